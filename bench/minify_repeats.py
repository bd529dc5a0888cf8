"""Diagnostic for `minify`: how much of a gap to a baseline comes from briefs whose text
repeats (a paragraph shared by several Debian binary packages). briefmin never keeps a unit
that repeats an earlier one word for word (`Document.duplicates`); when the units left hold
fewer words than the budget, it keeps them all and leaves the rest of the budget unused,
while `truncate` (the first words up to the budget) fills it with the repeats.

Reads the per-document scores that `bench_minify.py --save` (held-out split) or
`minify_train.py --save` (training split) wrote, marks each document whose distinct units
hold fewer words than the budget, and prints BASELINE minus briefmin on those and on the
others, per judge and ratio. With `--check-lead` (training split only: it runs `minify`)
it also counts how many outputs are the lead's text.

    .venv/bin/python bench/minify_repeats.py --scores bench/out/full18.jsonl --genre debian
    .venv/bin/python bench/minify_repeats.py --scores out.jsonl --genre debian --train 40 \\
        --variant default --check-lead
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from minify_eval import lead_output, split  # noqa: E402
from minify_train import training_docs  # noqa: E402

from briefmin.minify import count_words, parse, word_budget  # noqa: E402


def distinct_words(text: str, ratio: float) -> tuple[int, int]:
    """The words of the units of `text` that repeat no earlier one, and the budget at
    `ratio`."""
    budget = word_budget(count_words(text), ratio)
    doc = parse(text, budget)
    return sum(u.words for i, u in enumerate(doc.units) if i not in doc.duplicates), budget


def has_choice(text: str, ratio: float) -> bool:
    """Whether the units of `text` that repeat no earlier one do not all fit the budget at
    `ratio` (where they do, briefmin and lead both keep them all: the same text)."""
    words, budget = distinct_words(text, ratio)
    return words > budget


def distinct_words_short(text: str, ratio: float) -> bool:
    """Whether the units of `text` that repeat no earlier one hold fewer words than the
    budget at `ratio` (then keeping them all leaves budget unused)."""
    words, budget = distinct_words(text, ratio)
    return words < budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--genre", required=True)
    parser.add_argument("--train", type=int, metavar="N",
                        help="the scores are minify_train.py's on N training documents")
    parser.add_argument("--variant", default="briefmin",
                        help="briefmin's name in the scores (minify_train.py: default)")
    parser.add_argument("--baseline", default="truncate")
    parser.add_argument("--check-lead", action="store_true")
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    args = parser.parse_args()
    texts = dict(training_docs(args.genre, args.train, args.data) if args.train
                 else split(args.genre, args.data)[0])
    saved = [json.loads(line) for line in args.scores.open()]
    saved = [s for s in saved if s["genre"] == args.genre]

    def scores(judge: str, variant: str, ratio: float) -> tuple[list[str], np.ndarray] | None:
        found = [s for s in saved if (s["judge"], s["variant"], s["ratio"]) ==
                 (judge, variant, ratio)]
        return (found[-1]["docs"], np.array(found[-1]["scores"])) if found else None

    print(f"`{' '.join(sys.argv)}`\n\n| ratio | judge | documents | distinct < budget | "
          f"{args.baseline} - briefmin there | elsewhere | all |\n|---|---|---|---|---|---|---|")
    for ratio in sorted({s["ratio"] for s in saved}):
        for judge in sorted({s["judge"] for s in saved}):
            ours, theirs = scores(judge, args.variant, ratio), scores(judge, args.baseline,
                                                                        ratio)
            if ours is None or theirs is None:
                continue
            assert ours[0] == theirs[0], "the two were scored on different documents"
            short = np.array([distinct_words_short(texts[name], ratio) for name in ours[0]])
            gap = theirs[1] - ours[1]
            there = f"{gap[short].mean():+.4f}" if short.any() else "-"
            elsewhere = f"{gap[~short].mean():+.4f}" if (~short).any() else "-"
            print(f"| {ratio} | {judge} | {len(gap)} | {int(short.sum())} | {there} | "
                  f"{elsewhere} | {gap.mean():+.4f} |")
    if args.check_lead:
        from briefmin.encoder import BUNDLED_MODEL, load_encoder
        from briefmin.minify import minify_many

        encoder = load_encoder(BUNDLED_MODEL)
        names = sorted(texts)
        print("\n| ratio | distinct < budget: same text as lead | others: same text as lead |"
              "\n|---|---|---|")
        for ratio in sorted({s["ratio"] for s in saved}):
            outs = minify_many(encoder, [texts[n] for n in names], ratio=ratio)
            same = [out.text == lead_output(texts[n], ratio) for n, out in zip(
                names, outs, strict=True)]
            short = [distinct_words_short(texts[n], ratio) for n in names]
            mine = [s for s, k in zip(same, short, strict=True) if k]
            rest = [s for s, k in zip(same, short, strict=True) if not k]
            print(f"| {ratio} | {sum(mine)} of {len(mine)} | {sum(rest)} of {len(rest)} |")


if __name__ == "__main__":
    main()
