"""Dedupe benchmark: the banded near-pair search (candidates from the binary codes, confirmed
with int8 codes) against exact blocked all-pairs float32 cosine, measured in the same run.

- recall and time on 20k real briefs (Debian descriptions, encoded once with the bundled
  model and cached under bench/data/) and on 20k synthetic unit vectors with planted
  near-duplicates;
- time and peak memory at 100k and 1M synthetic briefs, each in a child process of its own
  (peak RSS is that child's), against all-pairs time extrapolated from measured row blocks;
- how similar real briefs are to their nearest neighbour, for choosing the threshold.

    .venv/bin/python bench/bench_dedupe.py [--quick] [--data bench/data]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ensure_corpora, log, parse_args, ratio, run, section, table
from briefmin.dedupe import DEFAULT_THRESHOLD
from briefmin.nearpairs import Pairs, all_pairs, band_plan, near_pairs
from briefmin.quantize import Int8Scale, binary_codes

REAL_SAMPLE = 20_000
QUICK_REAL_SAMPLE = 2_000
THRESHOLDS = tuple(sorted({0.85, 0.9, 0.95, DEFAULT_THRESHOLD}))
DIM = 384


def real_vectors(data: Path, n: int = REAL_SAMPLE) -> tuple[np.ndarray, list[str]]:
    """Brief vectors of n Debian descriptions (seeded sample), encoded once with the real model
    and cached under DATA (git-ignored): encoding 20k briefs takes many minutes on 2 cores."""
    cache = Path(data) / f"dedupe-debian-{n}.npz"
    if cache.exists():
        got = np.load(cache)
        return got["vectors"], [str(x) for x in got["names"]]
    from briefmin.encoder import BUNDLED_MODEL, encode_briefs, load_encoder
    from briefmin.sources import decode_text

    docs = sorted((Path(data) / "debian-descriptions" / "docs").glob("*.txt"))
    chosen = sorted(random.Random(0).sample(docs, min(n, len(docs))))
    encoder = load_encoder(BUNDLED_MODEL)
    rows = []
    start = time.perf_counter()
    for first in range(0, len(chosen), 1000):
        texts = [decode_text(p.read_bytes())[0] for p in chosen[first:first + 1000]]
        rows += [b.brief_vector for b in encode_briefs(encoder, texts)]
        log(f"encoded {len(rows)}/{len(chosen)} ({time.perf_counter() - start:.0f} s)")
    vectors = np.vstack(rows).astype(np.float32)
    names = np.array([p.name for p in chosen])
    np.savez(cache, vectors=vectors, names=names)
    return vectors, [str(x) for x in names]


def planted(n: int, threshold: float, seed: int = 0, share: float = 0.01
            ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, set[tuple[int, int]]]:
    """n random unit vectors, the last n*share of them near-copies of earlier rows at cosines
    spread over [threshold - 0.05, 1]. Built in chunks: at 1M only the codes are kept (float
    vectors are returned for small n only). Returns (floats, int8 codes, binary codes, the
    planted pairs whose float cosine is ≥ threshold)."""
    rng = np.random.default_rng(seed)
    copies = max(1, int(n * share))
    base = n - copies
    scale = Int8Scale.calibrate(np.full((1, DIM), 0.25, np.float32))
    codes = np.empty((n, DIM), np.int8)
    bits = np.empty((n, DIM // 8), np.uint8)
    keep = n <= 100_000
    floats = np.empty((n, DIM), np.float32) if keep else None
    sources = np.sort(rng.choice(base, copies, replace=False))
    source_vectors = np.empty((copies, DIM), np.float32)

    def store(start: int, x: np.ndarray) -> None:
        codes[start:start + len(x)] = scale.encode(x)
        bits[start:start + len(x)] = binary_codes(x)
        if floats is not None:
            floats[start:start + len(x)] = x

    for start in range(0, base, 65536):
        x = rng.standard_normal((min(65536, base - start), DIM)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        inside = (sources >= start) & (sources < start + len(x))
        source_vectors[inside] = x[sources[inside] - start]
        store(start, x)
    cos = rng.uniform(threshold - 0.05, 1.0, copies).astype(np.float32)
    noise = rng.standard_normal((copies, DIM)).astype(np.float32)
    noise -= (noise * source_vectors).sum(1, keepdims=True) * source_vectors
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    copies_x = cos[:, None] * source_vectors + np.sqrt(1 - cos ** 2)[:, None] * noise
    store(base, copies_x.astype(np.float32))
    truth = {(int(s), base + k) for k, s in enumerate(sources) if cos[k] >= threshold}
    return floats, codes, bits, truth


def pair_set(pairs: Pairs) -> set[tuple[int, int]]:
    return set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))


def compare(vectors: np.ndarray, threshold: float, exact: Pairs | None = None,
            exact_seconds: float | None = None) -> dict[str, Any]:
    """Banded search on the codes of `vectors` against exact all-pairs float32."""
    if exact is None:
        start = time.perf_counter()
        exact = all_pairs(vectors, threshold)
        exact_seconds = time.perf_counter() - start
    else:
        exact = exact.at_least(threshold)
    codes = Int8Scale.calibrate(vectors).encode(vectors)
    bits = binary_codes(vectors)
    start = time.perf_counter()
    found = near_pairs(bits, codes, threshold)
    banded = time.perf_counter() - start
    want, got = pair_set(exact), pair_set(found)
    return {"threshold": threshold, "exact": len(want), "found": len(got),
            "recall": len(want & got) / len(want) if want else 1.0,
            "precision": len(want & got) / len(got) if got else 1.0,
            "all_pairs_s": exact_seconds, "banded_s": banded,
            "bands": bands(bits, threshold)}


def bands(bits: np.ndarray, threshold: float) -> str:
    """How many bands near_pairs uses on these codes ("exact" when it falls back)."""
    plan = band_plan(len(bits), bits.shape[1] * 8, threshold,
                     ones=np.unpackbits(bits, axis=1).mean(axis=0))
    return "exact" if plan is None else f"{len(plan)} x {len(plan[0])} bits"


def nearest(vectors: np.ndarray, block: int = 2048) -> np.ndarray:
    best = np.full(len(vectors), -1.0, np.float32)
    for a in range(0, len(vectors), block):
        sims = vectors[a:a + block] @ vectors.T
        np.fill_diagonal(sims[:, a:a + block], -1.0)
        best[a:a + block] = sims.max(axis=1)
    return best


# -- one scale point, in a child process (its own peak RSS) -------------------------------------

def scale_child(n: int, threshold: float) -> None:
    log(f"scale {n}: generating synthetic codes")
    _, codes, bits, truth = planted(n, threshold, seed=n)
    log(f"scale {n}: banded search")
    start, cpu = time.perf_counter(), time.process_time()
    found = near_pairs(bits, codes, threshold)
    banded, banded_cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # before the baseline
    got = pair_set(found)
    # the baseline: exact all-pairs, timed on a few row blocks against every row and
    # extrapolated to the upper triangle (n/2 rows against all)
    rows = 1024 if n >= 500_000 else 2048
    probe = Int8Scale(1.0).decode(codes[:rows])  # any float32 rows: timing only
    start = time.perf_counter()
    for b in range(0, n, 8192):
        right = codes[b:b + 8192].astype(np.float32)
        np.nonzero(probe @ right.T >= threshold)
    per_row = (time.perf_counter() - start) / rows
    json.dump({"n": n, "threshold": threshold, "banded_s": banded, "banded_cpu_s": banded_cpu,
               "bands": bands(bits, threshold),
               "planted": len(truth), "recall": len(truth & got) / len(truth),
               "all_pairs_s": per_row * n / 2, "probe_rows": rows,
               "peak_rss": peak_rss},
              sys.stdout)


def scale_point(n: int, threshold: float) -> dict[str, Any]:
    done = run([PYTHON, __file__, "--scale", str(n), "--threshold", str(threshold)])
    result: dict[str, Any] = json.loads(done.stdout)
    result["wall_s"] = done.seconds
    return result


# -- report -------------------------------------------------------------------------------------

def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--scale", type=int, help=argparse.SUPPRESS)
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                            help=argparse.SUPPRESS)

    args = parse_args(__doc__.splitlines()[0], extra)
    if args.scale:
        scale_child(args.scale, args.threshold)
        return
    ensure_corpora(args.data)
    n_real = QUICK_REAL_SAMPLE if args.quick and not (
        args.data / f"dedupe-debian-{REAL_SAMPLE}.npz").exists() else REAL_SAMPLE
    log(f"real vectors: {n_real} Debian descriptions")
    real, _ = real_vectors(args.data, n_real)
    synthetic, _, _, _ = planted(20_000, min(THRESHOLDS), share=0.05)
    assert synthetic is not None

    recall_rows = []
    for label, vectors in ((f"Debian descriptions ({len(real):,})", real),
                           (f"synthetic, 5% planted ({len(synthetic):,})", synthetic)):
        log(f"{label}: exact all-pairs float32")
        start = time.perf_counter()
        exact = all_pairs(vectors, min(THRESHOLDS))
        exact_s = time.perf_counter() - start
        for t in THRESHOLDS:
            log(f"{label}: banded search at {t}")
            r = compare(vectors, t, exact, exact_s)
            recall_rows.append([label, f"{t:.2f}", r["bands"], r["exact"], r["found"],
                                f"{r['recall']:.4f}", f"{r['precision']:.4f}",
                                f"{r['banded_s']:.2f}", f"{r['all_pairs_s']:.2f}",
                                ratio(r["banded_s"], r["all_pairs_s"])])

    scale_rows = []
    for n in ((100_000,) if args.quick else (100_000, 1_000_000)):
        log(f"scale point {n:,} (child process)")
        r = scale_point(n, DEFAULT_THRESHOLD)
        scale_rows.append([f"{n:,}", f"{r['threshold']:.2f}", r["bands"], r["planted"],
                           f"{r['recall']:.4f}", f"{r['banded_s']:.1f}",
                           f"{r['banded_cpu_s']:.1f}",
                           f"{r['peak_rss'] / 2**30:.2f} GiB",
                           f"{r['all_pairs_s']:.0f}", ratio(r["banded_s"], r["all_pairs_s"])])

    log("nearest-neighbour similarity of real briefs")
    best = nearest(real)
    dist_rows = [[f"{t:.2f}", f"{(best >= t).mean() * 100:.1f}%"]
                 for t in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)]

    print(section("Dedupe: banded near-pair search vs exact all-pairs", [
        "Recall = share of the pairs that exact all-pairs float32 cosine finds at the same "
        "threshold; the banded search takes candidates from the 1-bit codes and confirms them "
        "with int8 codes. Times in seconds, this run, 2 shared cores.",
        table(["data", "threshold", "bands", "all-pairs pairs", "banded pairs", "recall",
               "precision", "banded s", "all-pairs s", "time vs all-pairs"], recall_rows),
        "Scale (synthetic unit vectors, 1% planted near-copies at cosines over "
        "[threshold - 0.05, 1]; recall over the planted pairs at or above the threshold; "
        "each row is a child process, peak RSS is its own; all-pairs time extrapolated from "
        "timed row blocks against every row; CPU s is the process's CPU time, what the wall "
        "time would be on an idle machine since the search runs on one core):",
        table(["briefs", "threshold", "bands", "planted pairs", "recall", "banded s",
               "banded CPU s", "peak RSS", "all-pairs s (est.)", "time vs all-pairs"], scale_rows),
        f"Share of {len(real):,} real briefs whose nearest other brief is at least this "
        "similar (exact float32):",
        table(["cosine ≥", "briefs"], dist_rows),
    ]))


if __name__ == "__main__":
    main()
