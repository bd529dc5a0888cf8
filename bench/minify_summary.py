"""One-run summary of what `bench_minify.py --save FILE` kept: per genre and ratio, briefmin
minus lead under each judge [95% paired bootstrap] (with e5 and e5x the share of documents
strictly closer; and for e5 that share among the documents where a choice exists: where
every distinct unit fits the budget, briefmin and lead both keep them all, a tie by
construction), how many genre x ratio cells briefmin's mean is at or above lead, LexRank,
TextRank and `truncate` under each judge, and every cell where it is below.

    .venv/bin/python bench/minify_summary.py bench/out/run36/scores.jsonl [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_minify import EPS, RATIOS
from minify_eval import paired_bootstrap, split
from minify_repeats import has_choice

NAMES = {"kernel": "kernel docs", "debian": "Debian descriptions", "usrdoc": "READMEs",
         "debshort": "short Debian descriptions", "fixtures": "fixtures (example briefs)",
         "manpages": "manual pages", "pydoc": "pydoc pages"}
JUDGES = ("e5", "e5x", "minilm180", "minilm180x", "tfidf")
COUNTED = ("e5", "minilm180", "minilm180x", "tfidf")  # the issue's three judges (e5x: e5's)
BASELINES = ("lead", "lexrank", "textrank", "truncate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores", type=Path)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.scores.read_text("utf-8").splitlines()]
    names = {(r["genre"], r["judge"], r["variant"], r["ratio"]): r["docs"] for r in rows}
    scores = {(r["genre"], r["judge"], r["variant"], r["ratio"]): np.array(r["scores"])
              for r in rows}
    genres = list(dict.fromkeys(r["genre"] for r in rows))
    texts = {genre: dict(split(genre, args.data)[0]) for genre in genres}
    print("| genre | ratio | e5 | e5x | MiniLM-180 | MiniLM-180x | TF-IDF |\n"
          "|---|---|---|---|---|---|---|")
    below: list[str] = []
    met: dict[tuple[str, str], list[int]] = {}
    closer = 0
    for genre in genres:
        name = NAMES.get(genre, genre)
        for ratio in RATIOS:
            cells = []
            for judge in JUDGES:
                ours, lead = (scores.get((genre, judge, m, ratio)) for m in ("briefmin", "lead"))
                if ours is None or lead is None:
                    cells.append("")
                    continue
                mean, low, high = paired_bootstrap(ours - lead)
                cell = f"{mean:+.3f}" if judge == "tfidf" else \
                    f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"
                if judge.startswith("e5"):
                    ahead = ours > lead + EPS
                    share = float(np.mean(ahead))
                    cell += f", {share:.0%}"
                    closer += judge == "e5" and share >= 0.8
                    if judge == "e5":
                        choice = np.array([has_choice(texts[genre][doc], ratio)
                                           for doc in names[genre, judge, "briefmin", ratio]])
                        if not choice.all():
                            cell += (f" ({int(ahead[choice].sum())} of {int(choice.sum())} "
                                     "with a choice)")
                cells.append(f"**{cell}**" if mean < 0 else cell)
            print(f"| {name} | {ratio} | " + " | ".join(cells) + " |")
            for judge in COUNTED:
                for base in BASELINES:
                    ours, other = (scores.get((genre, judge, m, ratio)) for m in ("briefmin",
                                                                                  base))
                    if ours is None or other is None:
                        continue
                    mean, low, high = paired_bootstrap(ours - other)
                    counts = met.setdefault((judge, base), [0, 0])
                    counts[0] += mean >= 0
                    counts[1] += 1
                    if mean < 0:
                        below.append(f"- {name} {ratio} against {base} under {judge}: "
                                     f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"
                                     + (" (significant)" if high < 0 else ""))
    print(f"\nShare >= 80% strictly closer than lead under e5: {closer} of "
          f"{len(genres) * len(RATIOS)} cells.\n")
    print("| judge | " + " | ".join(BASELINES) + " |\n|---|" + "---|" * len(BASELINES))
    for judge in COUNTED:
        print(f"| {judge} | " + " | ".join(
            "{}/{}".format(*met[judge, b]) if (judge, b) in met else "" for b in BASELINES)
            + " |")
    print("\nBelow:\n\n" + "\n".join(below))


if __name__ == "__main__":
    main()
