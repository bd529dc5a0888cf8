"""What the measured pick costs on short briefs: `minify_many` at one ratio with each pool
of candidates (sentences only; with clause candidates; the default, with fine clause
candidates too) beside encoding the same briefs alone (the `add` work), in one process with
the model loaded, on a genre's held-out split. Wall and CPU seconds: on shared cores the
ratio to the same run's encode-only rate is the figure to compare between sessions.

    .venv/bin/python bench/minify_pick_speed.py [--genres debshort fixtures] [--ratio 0.5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from minify_eval import split  # noqa: E402
from minify_train import VARIANTS  # noqa: E402

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import brief_vectors, minify_many  # noqa: E402

POOLS: dict[str, dict[str, Any]] = {
    "sentence candidates only": VARIANTS["sentpool"],
    "sentence and clause candidates": {"pick_fine_clauses": False},
    "the default (fine clause candidates too)": {}}


def timed(call: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", nargs="+", default=["debshort", "fixtures"])
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    args = parser.parse_args()
    encoder = load_encoder(BUNDLED_MODEL)
    encoder.encode(["warm up"])
    print(f"`{' '.join(sys.argv)}`\n\n| genre | path | briefs/s wall | per CPU s | "
          "x encode-only (wall) |\n|---|---|---|---|---|")
    for genre in args.genres:
        texts = [t for _, t in split(genre, args.data)[0]]
        n = len(texts)
        encode_wall, encode_cpu = timed(partial(brief_vectors, encoder, texts))
        print(f"| {genre} ({n}) | encoding the briefs alone | {n / encode_wall:.1f} | "
              f"{n / encode_cpu:.1f} | 1.00x |", flush=True)
        for name, options in POOLS.items():
            wall, cpu = timed(partial(minify_many, encoder, texts, ratio=args.ratio,
                                        **options))
            print(f"| {genre} ({n}) | `minify_many` at {args.ratio}, {name} | {n / wall:.1f} | "
                  f"{n / cpu:.1f} | {encode_wall / wall:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
