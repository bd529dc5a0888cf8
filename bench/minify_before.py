"""A change of the default's before and after on held-out splits (a measurement, not
tuning: no choice reads it): a variant of `bench/minify_train.py` (`--before`, by default
`estimate`, the eighth round's default) against today's default and baselines, under the
bench's judges, per genre and ratio; paired bootstrap of the per-document differences.
With `--changed-only` only the documents whose output the change moves are judged (the
others differ by exactly 0), so a long genre where few briefs change costs little.

    .venv/bin/python bench/minify_before.py [--genres debshort fixtures] [--ratios ...]
    .venv/bin/python bench/minify_before.py --before noclausepool --baselines lead truncate
    .venv/bin/python bench/minify_before.py --before noclausepool --changed-only \\
        --genres kernel debian usrdoc"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_minify import RATIOS  # noqa: E402
from minify_eval import (  # noqa: E402
    SUMMARIZERS,
    E5Cache,
    MiniLmCache,
    TfIdf,
    lead_output,
    paired_bootstrap,
    split,
)
from minify_train import VARIANTS, judged  # noqa: E402

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import count_words, minify_many, word_budget  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", nargs="+", default=["debshort", "fixtures"])
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    parser.add_argument("--before", default="estimate", choices=list(VARIANTS))
    parser.add_argument("--baselines", nargs="+", default=["lead"],
                        choices=["lead", *SUMMARIZERS])
    parser.add_argument("--changed-only", action="store_true",
                        help="judge only the documents whose output changed (no baselines)")
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    args = parser.parse_args()
    encoder = load_encoder(BUNDLED_MODEL)
    minilm, e5 = MiniLmCache(encoder), E5Cache()
    baselines = [] if args.changed_only else args.baselines
    pairs = [("after", "before"), *((a, b) for b in baselines for a in ("before", "after"))]
    print(f"`{' '.join(sys.argv)}`: before is `{args.before}`, after the default.\n")
    print("| genre | ratio | judge | changed | " + " | ".join(
        ["before", "after", *baselines] + [f"{a} - {b}" for a, b in pairs]) + " |\n|"
        + "---|" * (4 + 2 + len(baselines) + len(pairs)))
    for genre in args.genres:
        all_texts = [t for _, t in split(genre, args.data)[0]]
        tfidf = TfIdf(all_texts)
        for ratio in args.ratios:
            before = [r.text for r in minify_many(encoder, all_texts, ratio=ratio,
                                                  **VARIANTS[args.before])]
            after = [r.text for r in minify_many(encoder, all_texts, ratio=ratio)]
            changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
            keep = changed if args.changed_only else list(range(len(all_texts)))
            texts = [all_texts[i] for i in keep]
            outs = {"before": [before[i] for i in keep], "after": [after[i] for i in keep]}
            for name in baselines:
                outs[name] = [lead_output(t, ratio) if name == "lead" else
                              SUMMARIZERS[name](t, word_budget(count_words(t), ratio))
                              for t in texts]
            for judge in ("e5", "minilm180x", "tfidf"):
                s = {name: judged(judge, texts, o, e5, minilm, tfidf)
                     for name, o in outs.items()}
                cells = []
                for a, b in pairs:
                    # with --changed-only the unchanged documents differ by exactly 0
                    diffs = np.zeros(len(all_texts))
                    diffs[keep] = s[a] - s[b]
                    mean, low, high = paired_bootstrap(diffs)
                    cells.append(f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]")
                means = [f"{s[n].mean():.4f}" if len(s[n]) else "" for n in
                         ("before", "after", *baselines)]
                print(f"| {genre} | {ratio} | {judge} | {len(changed)}/{len(all_texts)} | "
                      + " | ".join(means + cells) + " |", flush=True)


if __name__ == "__main__":
    main()
