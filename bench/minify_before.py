"""The measured pick's before and after on held-out splits (a measurement, not tuning: no
choice reads it): the eighth round's default (`pick_tokens=0`, the estimate picks) against
today's default and lead, under the bench's judges, per genre and ratio; paired bootstrap
of the per-document differences.

    .venv/bin/python bench/minify_before.py [--genres debshort fixtures] [--ratios ...]"""

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
    E5_CHUNK_WORDS,
    MINILM_CHUNK_WORDS,
    E5Cache,
    TfIdf,
    lead_output,
    offset_cosines,
    paired_bootstrap,
    split,
)
from minify_train import MiniLmCache, scores_of  # noqa: E402

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
    print("| genre | ratio | judge | before (estimate picks) | after (default) | lead | "
          "after - before | before - lead | after - lead |\n|---|---|---|---|---|---|---|---|---|")
    for genre in args.genres:
        texts = [t for _, t in split(genre, args.data)[0]]
        tfidf = TfIdf(texts)
        for ratio in args.ratios:
            outs = {"before": [r.text for r in minify_many(encoder, texts, ratio=ratio,
                                                           pick_tokens=0)],
                    "after": [r.text for r in minify_many(encoder, texts, ratio=ratio)],
                    "lead": [lead_output(text, ratio) for text in texts]}
            for judge in ("e5", "minilm180x", "tfidf"):
                s = {}
                for name, o in outs.items():
                    if judge == "e5":
                        s[name] = scores_of(texts, o, e5.embed, E5_CHUNK_WORDS)
                    elif judge == "minilm180x":
                        s[name] = offset_cosines(texts, o, minilm.embed, MINILM_CHUNK_WORDS)
                    else:
                        s[name] = np.array([tfidf.kept(t, x) for t, x in zip(texts, o,
                                                                            strict=True)])
                cells = []
                for a, b in (("after", "before"), ("before", "lead"), ("after", "lead")):
                    mean, low, high = paired_bootstrap(s[a] - s[b])
                    cells.append(f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]")
                print(f"| {genre} | {ratio} | {judge} | {s['before'].mean():.4f} | "
                      f"{s['after'].mean():.4f} | {s['lead'].mean():.4f} | "
                      + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
