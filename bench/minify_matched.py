"""Is a loss to `truncate` (the first words up to the budget) about what briefmin keeps or
about how many words it keeps? Per held-out document and ratio: briefmin's output, and
`truncate` cut at briefmin's own word count (`words_out`) as well as at the budget, judged
by e5 and MiniLM over 180-word chunks without alignment; paired bootstrap of the
differences. A measurement of the default after a decision, never an input to one.

    .venv/bin/python bench/minify_matched.py [--genres debshort fixtures] [--ratios ...]"""

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
    E5Cache,
    MiniLmCache,
    paired_bootstrap,
    split,
    truncate,
)
from minify_train import judged  # noqa: E402

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import minify_many  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", nargs="+", default=["debshort", "fixtures"])
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    args = parser.parse_args()
    encoder = load_encoder(BUNDLED_MODEL)
    minilm, e5 = MiniLmCache(encoder), E5Cache()
    print(f"`{' '.join(sys.argv)}`\n\n| genre | ratio | judge | briefmin's words / budget | "
          "briefmin | truncate, same words | truncate, budget | briefmin - same words | "
          "briefmin - budget |\n|---|---|---|---|---|---|---|---|---|")
    for genre in args.genres:
        texts = [t for _, t in split(genre, args.data)[0]]
        for ratio in args.ratios:
            results = minify_many(encoder, texts, ratio=ratio)
            outs = {"briefmin": [r.text for r in results],
                    "same": [truncate(t, r.words_out) for t, r in zip(texts, results,
                                                                       strict=True)],
                    "budget": [truncate(t, r.budget) for t, r in zip(texts, results,
                                                                      strict=True)]}
            fill = np.mean([r.words_out / r.budget for r in results])
            for judge in ("e5", "minilm180x"):
                s = {name: judged(judge, texts, o, e5, minilm) for name, o in outs.items()}
                cells = []
                for other in ("same", "budget"):
                    mean, low, high = paired_bootstrap(s["briefmin"] - s[other])
                    cells.append(f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]")
                print(f"| {genre} | {ratio} | {judge} | {fill:.3f} | "
                      + " | ".join(f"{s[n].mean():.4f}" for n in outs) + " | "
                      + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
