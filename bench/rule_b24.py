"""The twenty-fourth round's rule (bench/RESULTS.md): `minify` with a comment run's mark
paid once (`units.MARKS_ONCE`, the candidate) against the current default, at 0.3 / 0.5 /
0.7. Per method and ratio: words written against the budget, outputs over the budget or
empty, settings commented out (`rule_b22.commented_settings`) and the judges' means; then
candidate minus default per document with a paired bootstrap interval.

    PYTHONPATH=$PWD .venv/bin/python bench/rule_b24.py                 # (a): config, training
    PYTHONPATH=$PWD .venv/bin/python bench/rule_b24.py --same kernel debian ...   # (b)
    PYTHONPATH=$PWD .venv/bin/python bench/rule_b24.py --speed         # (c)
    PYTHONPATH=$PWD .venv/bin/python bench/rule_b24.py --genre debconf --held-out \\
        --baselines lead truncate lexrank textrank [--ratios 0.7]      # (d)"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from minify_eval import MiniLmCache, TfIdf, paired_bootstrap, split  # noqa: E402
from minify_train import baseline_output, judged  # noqa: E402
from rule_b22 import summary  # noqa: E402

from briefmin import units  # noqa: E402
from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import Minified, count_words, minify_many  # noqa: E402
from briefmin.units import commented  # noqa: E402

RATIOS = (0.3, 0.5, 0.7)
JUDGES = ("minilm180", "minilm180x", "tfidf")


def minified(encoder: object, texts: list[str], ratio: float, once: bool) -> list[Minified]:
    """`minify_many` with `MARKS_ONCE` set to `once` (restored after)."""
    before, units.MARKS_ONCE = units.MARKS_ONCE, once
    try:
        return minify_many(encoder, texts, ratio=ratio)  # type: ignore[arg-type]
    finally:
        units.MARKS_ONCE = before


def judge(args: argparse.Namespace, encoder: object) -> None:
    """(a) and (d): both settings and the baselines on one genre's split."""
    held_out, training = split(args.genre, BENCH / "data")
    texts = [t for _, t in (held_out if args.held_out else training)]
    print(f"{args.genre}, {'held-out' if args.held_out else 'training'}: {len(texts)} files, "
          f"{sum(map(commented, texts))} read as commented", flush=True)
    minilm, tfidf = MiniLmCache(encoder), TfIdf(texts)
    methods = ["candidate", "default", *args.baselines]
    diffs = {j: np.zeros(len(texts)) for j in JUDGES}
    for ratio in args.ratios:
        outs, budgets = {}, []
        for name, once in (("candidate", True), ("default", False)):
            results = minified(encoder, texts, ratio, once)
            outs[name] = [r.text for r in results]
            budgets = [r.budget for r in results]
            over = sum(1 for r in results if count_words(r.text) > r.budget)
            print(f"{ratio} {name:9s} over budget {over}", flush=True)
        units.MARKS_ONCE = True  # the baselines' lead renders as the candidate would ship
        for name in args.baselines:
            outs[name] = [baseline_output(name, t, ratio) for t in texts]
        units.MARKS_ONCE = False
        scores_by: dict[tuple[str, str], np.ndarray] = {}
        for name in methods:
            scores, words, empty, settings = summary(texts, outs[name], JUDGES, minilm, tfidf)
            for j in JUDGES:
                scores_by[name, j] = scores[j]
            print(f"{ratio} {name:9s} words {words:6d} of {sum(budgets)} "
                  f"({words / sum(budgets):.3f}), empty {empty:2d}, settings commented "
                  f"{settings:3d}; " + ", ".join(f"{j} {scores_by[name, j].mean():.4f}"
                                                 for j in JUDGES), flush=True)
        for j in JUDGES:
            for base in methods[1:]:
                d = scores_by["candidate", j] - scores_by[base, j]
                if base == "default":
                    diffs[j] += d / len(args.ratios)
                m, lo, hi = paired_bootstrap(d)
                print(f"   {ratio} candidate - {base}, {j}: {m:+.4f} [{lo:+.4f}, {hi:+.4f}], "
                      f"better on {float(np.mean(d > 0)):.0%}, changed on "
                      f"{float(np.mean(d != 0)):.0%}", flush=True)
    for j, d in diffs.items():
        m, lo, hi = paired_bootstrap(d)
        print(f"candidate - default per document over the ratios, {j}: {m:+.4f} "
              f"[{lo:+.4f}, {hi:+.4f}]")


def same(args: argparse.Namespace, encoder: object) -> None:
    """(b): on each genre's first 40 training briefs, the outputs that differ, and whether
    their briefs are read as commented; those are scored."""
    for genre in args.same:
        texts = [t for _, t in split(genre, BENCH / "data")[1][:40]]
        minilm = MiniLmCache(encoder)
        for ratio in RATIOS:
            new = [r.text for r in minified(encoder, texts, ratio, True)]
            old = [r.text for r in minified(encoder, texts, ratio, False)]
            changed = [i for i, (a, b) in enumerate(zip(new, old, strict=True)) if a != b]
            uncommented = [i for i in changed if not commented(texts[i])]
            line = (f"{genre} {ratio}: {len(changed)} of {len(texts)} outputs differ, "
                    f"{len(uncommented)} of them of briefs not read as commented")
            if changed:
                pick = [texts[i] for i in changed]
                d = (judged("minilm180x", pick, [new[i] for i in changed], None, minilm)
                     - judged("minilm180x", pick, [old[i] for i in changed], None, minilm))
                line += f"; MiniLM-180x per genre brief {d.sum() / len(texts):+.4f}"
            print(line, flush=True)


def speed(encoder: object) -> None:
    """(c): briefs/s on the config training split at 0.5, each setting twice, the best."""
    texts = [t for _, t in split("config", BENCH / "data")[1]]
    minified(encoder, texts[:3], 0.5, False)  # the token table, loaded once
    for once in (False, True, False, True):
        start = time.perf_counter()
        minified(encoder, texts, 0.5, once)
        took = time.perf_counter() - start
        print(f"{'candidate' if once else 'default':9s} {len(texts) / took:.2f} briefs/s",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--genre", default="config")
    parser.add_argument("--held-out", action="store_true")
    parser.add_argument("--baselines", nargs="*", default=[])
    parser.add_argument("--same", nargs="+")
    parser.add_argument("--speed", action="store_true")
    # (d)'s first run stopped after 0.5; its remaining ratio runs alone
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    args = parser.parse_args()
    encoder = load_encoder(BUNDLED_MODEL)
    if args.same:
        same(args, encoder)
    elif args.speed:
        speed(encoder)
    else:
        judge(args, encoder)


if __name__ == "__main__":
    main()
