"""Benchmark: how much meaning `briefmin minify` keeps, against two baselines in the same run.

On a fixed-seed sample of Linux kernel docs (100-4000 words each), at ratios 0.3, 0.5 and
0.7: the cosine between the brief vectors (normalized mean of 254-token windows, as the
archive stores them) of each minified doc and of the original, for briefmin, for "lead" (the
first units in document order up to the same word budget) and for random units. All use the
same units, clean-ups and markdown-aware rendering, so only the choice differs. Two rows
show what the parts bring: the best of the greedy runs without the refining rounds, and one
greedy run (r=0.75) alone.

The cost exponents (`briefmin.minify.COST_POWERS`) and the refining rounds were tuned with
`--train`: a sample drawn with another seed from the docs this benchmark never reports on.

    .venv/bin/python bench/bench_minify.py [--quick] [--train] [--data bench/data]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import (  # noqa: E402
    VectorCache,
    brief_vectors,
    count_words,
    minify_many,
    parse,
    render,
    select_in_order,
    similarity,
    word_budget,
)
from briefmin.text import decode_text  # noqa: E402

RATIOS = (0.3, 0.5, 0.7)
SEED = 5
TRAIN_SEED = 11
FULL, QUICK = 150, 40
UNREFINED = "best of the cost exponents, no refining rounds"
SINGLE = "greedy r=0.75 only"


def sample(data: Path, n: int, seed: int = SEED, exclude: frozenset[str] = frozenset()
           ) -> list[tuple[str, str]]:
    files = sorted((data / "linux-doc").rglob("*.rst"))
    if not files:
        sys.exit(f"no kernel docs under {data}/linux-doc; run ../shared/data/fetch-corpora.sh")
    random.Random(seed).shuffle(files)
    chosen = []
    for path in files:
        name = str(path.relative_to(data))
        if name in exclude:
            continue
        text = decode_text(path.read_bytes())[0]
        if 100 <= count_words(text) <= 4000:
            chosen.append((name, text))
        if len(chosen) == n:
            break
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help=f"{QUICK} docs instead of {FULL}")
    parser.add_argument("--train", action="store_true",
                        help="the tuning sample (another seed, none of the FULL reported docs)")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    args = parser.parse_args()
    n = QUICK if args.quick else FULL
    if args.train:
        reported = frozenset(name for name, _ in sample(args.data, FULL))
        docs_in = sample(args.data, n, TRAIN_SEED, reported)
    else:
        docs_in = sample(args.data, n)
    texts = [t for _, t in docs_in]
    words_in = [count_words(t) for t in texts]
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"minify bench: {len(texts)} kernel docs, {sum(words_in)} words")

    encoder = load_encoder(BUNDLED_MODEL)
    encoder.encode(["warm up"])
    # Throughput: the whole product path (parse, encode briefs and units, greedy runs, encode
    # and compare the candidates) with an empty cache, beside encoding the briefs alone.
    cache = VectorCache(encoder)
    start = time.perf_counter()
    ours = {0.5: minify_many(encoder, texts, ratio=0.5, cache=cache)}
    minify_s = time.perf_counter() - start
    log(f"minified at 0.5 in {minify_s:.1f} s")
    start = time.perf_counter()
    brief_vectors(encoder, texts)
    encode_s = time.perf_counter() - start
    log(f"encoded the briefs alone in {encode_s:.1f} s")

    sims: dict[tuple[str, float], np.ndarray] = {}
    kept: dict[tuple[str, float], float] = {}
    targets = cache.get(texts)
    for ratio in RATIOS:
        if ratio not in ours:
            ours[ratio] = minify_many(encoder, texts, ratio=ratio, cache=cache)
        unrefined = minify_many(encoder, texts, ratio=ratio, refine=False, cache=cache)
        single = minify_many(encoder, texts, ratio=ratio, cost_powers=(0.75,), refine=False,
                             cache=cache)
        outputs: dict[str, list[str]] = {"briefmin": [r.text for r in ours[ratio]],
                                         UNREFINED: [r.text for r in unrefined],
                                         SINGLE: [r.text for r in single],
                                         "lead": [], "random": []}
        for index, text in enumerate(texts):
            doc = parse(text, budget := word_budget(words_in[index], ratio))
            outputs["lead"].append(render(doc, select_in_order(doc, budget)))
            order = list(range(len(doc.units)))
            random.Random(index).shuffle(order)
            outputs["random"].append(render(doc, select_in_order(doc, budget, order)))
        cache.add([o for m in ("lead", "random") for o in outputs[m] if o])
        for method, outs in outputs.items():
            sims[method, ratio] = np.array([
                similarity(target, cache.get([o])[0] if o else target, w, count_words(o))
                for target, o, w in zip(targets, outs, words_in, strict=True)])
            kept[method, ratio] = float(np.mean([count_words(o) / w for o, w in
                                                 zip(outs, words_in, strict=True)]))
        log(f"ratio {ratio} done")

    cmd = "bench/bench_minify.py" + (" --quick" if args.quick else "") + \
        (" --train" if args.train else "")
    which = f"train sample, seed {TRAIN_SEED}" if args.train else f"seed {SEED}"
    print(f"## minify: meaning kept on {len(texts)} Linux kernel docs\n")
    print(f"`.venv/bin/python {cmd}` ({which}, docs of 100-4000 words; similarity = cosine "
          "of brief vectors, minified vs original, all-MiniLM-L6-v2)\n")
    print("| ratio | method | mean sim | p5 sim | mean / lead | above lead (strict) | "
          "≥ lead (ties incl.) | identical to lead | words kept |")
    print("|---|---|---|---|---|---|---|---|---|")
    eps = 1e-4  # cosines of identical texts differ by float noise only
    for ratio in RATIOS:
        lead = sims["lead", ratio]
        for method in ("briefmin", UNREFINED, SINGLE, "lead", "random"):
            s = sims[method, ratio]
            if method == "lead":
                above = at_least = same = "-"
            else:
                above = f"{np.mean(s > lead + eps):.0%}"
                at_least = f"{np.mean(s >= lead - eps):.0%}"
                same = f"{np.mean(np.abs(s - lead) <= eps):.0%}"
            print(f"| {ratio} | {method} | {s.mean():.4f} | {np.percentile(s, 5):.4f} | "
                  f"{s.mean() / lead.mean():.3f} | {above} | {at_least} | {same} | "
                  f"{kept[method, ratio]:.2f} |")
    units = sum(r.units_in for r in ours[0.5])
    print(f"\nThroughput at 0.5, whole `minify_many` path (parse, one encode call for the "
          f"briefs and their {units} units, identical texts once; a greedy run per cost "
          f"exponent, then two refining rounds; one encode call per round for the "
          f"distinct candidate outputs): "
          f"**{len(texts) / minify_s:.2f} briefs/s**, against "
          f"{len(texts) / encode_s:.2f} briefs/s for encoding the briefs alone "
          f"({encode_s / minify_s:.2f}x). Model backend: {type(encoder).__name__}; "
          f"2 shared cores, so times are noisy.")


if __name__ == "__main__":
    main()
