"""Does the method's own estimate rank its candidate selections as the judges do? On the
TRAINING splits only (the sixth round's check, bench/RESULTS.md): per genre and ratio, each
candidate `choose` weighs (a greedy run per cost power, the lead, backward elimination, and
the default's pick after its swaps) with its estimated similarity (`UnitVectors.score`) and
its MiniLM-180 / MiniLM-180x scores (the judges are called here, never by the method); then
how often the estimate's pick among the candidates is the judge's, and what a judge-picked
candidate would score (an oracle, not a method).

    .venv/bin/python bench/minify_cands.py [--genres pypi usrdeep kernel debian] [--n 20]
        [--ratios 0.5 0.7]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_minify import RATIOS  # noqa: E402
from minify_eval import MINILM_CHUNK_WORDS, MiniLmCache, offset_cosines  # noqa: E402
from minify_train import scores_of, training_docs  # noqa: E402

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import count_words, parse, render, word_budget  # noqa: E402
from briefmin.selection import (  # noqa: E402
    COST_POWERS,
    choose,
    select_backward,
    select_greedy,
    select_in_order,
    unit_vectors,
)

NAMES = (*(f"greedy{p}" for p in COST_POWERS), "lead", "backward", "default")


def rank_corr(est: np.ndarray, judge: np.ndarray) -> float:
    """Mean over documents of the rank correlation between the estimate and a judge across
    the candidates (documents whose candidates all tie left out)."""
    ranks = [np.corrcoef(np.argsort(np.argsort(e)), np.argsort(np.argsort(j)))[0, 1]
             for e, j in zip(est, judge, strict=True) if np.ptp(e) > 0 and np.ptp(j) > 0]
    return float(np.mean(ranks)) if ranks else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", nargs="+", default=["pypi", "usrdeep", "kernel", "debian"])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    args = parser.parse_args()
    encoder = load_encoder(BUNDLED_MODEL)
    minilm = MiniLmCache(encoder)
    print("Per candidate: estimate (the method's value) / MiniLM-180 / MiniLM-180x means; "
          "then the estimate's pick among the first five (the default before its swaps), "
          "and each judge's own pick (an oracle).\n")
    print("| genre | ratio | " + " | ".join(NAMES) + " | estimate picks the 180x-best | "
          "oracle 180 / 180x | estimate-judge rank correlation 180 / 180x |\n"
          "|---|---|" + "---|" * (len(NAMES) + 3))
    for genre in args.genres:
        texts = [t for _, t in training_docs(genre, args.n, args.data)]
        for ratio in args.ratios:
            est = np.zeros((len(texts), len(NAMES)))
            outs: list[list[str]] = [[] for _ in NAMES]
            for d, text in enumerate(texts):
                budget = word_budget(count_words(text), ratio)
                doc = parse(text, budget)
                vectors = unit_vectors(encoder, [doc])[0]
                masks = [*(select_greedy(doc, vectors, budget, cost_power=p)
                           for p in COST_POWERS), select_in_order(doc, budget),
                         select_backward(doc, vectors, budget), choose(doc, vectors, budget)]
                for c, mask in enumerate(masks):
                    est[d, c] = vectors.score(mask)
                    outs[c].append(render(doc, mask, budget))
            j180 = np.stack([scores_of(texts, o, minilm.embed, MINILM_CHUNK_WORDS)
                             for o in outs], axis=1)
            j180x = np.stack([offset_cosines(texts, o, minilm.embed, MINILM_CHUNK_WORDS)
                              for o in outs], axis=1)
            first = len(COST_POWERS) + 2  # the greedy runs, the lead, the backward run
            pick = est[:, :first].argmax(axis=1)
            agree = np.mean(pick == j180x[:, :first].argmax(axis=1))

            cells = [f"{est[:, c].mean():.4f} / {j180[:, c].mean():.4f} / "
                     f"{j180x[:, c].mean():.4f}" for c in range(len(NAMES))]
            print(f"| {genre} | {ratio} | " + " | ".join(cells) + f" | {agree:.0%} | "
                  f"{j180[:, :first].max(axis=1).mean():.4f} / "
                  f"{j180x[:, :first].max(axis=1).mean():.4f} | "
                  f"{rank_corr(est[:, :first], j180[:, :first]):+.2f} / "
                  f"{rank_corr(est[:, :first], j180x[:, :first]):+.2f} |", flush=True)


if __name__ == "__main__":
    main()
