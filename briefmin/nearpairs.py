"""Semantic near pairs: pairs of briefs whose vectors' cosine is at or above a threshold, from
the stored codes, never from an all-pairs matrix.

Candidates come from the binary codes by banding (bit-sampling LSH: two briefs are candidates
when their codes agree on every bit of some band of k sampled bits) and are confirmed with the
int8 rescoring codes. The number of bands is computed from the threshold so that a pair at the
threshold is found with probability `LSH_RECALL`; pairs above it are found more surely still.
Codes that band neither way (vectors that all share one direction, as the `hashing`
encoder's do) are searched exactly when few, else by an inverted file (`ivf_pairs`) whose
recall a seeded sample measures (its products on onnxruntime's integer kernels, `int8gemm`).
numpy over codes: no archive, no model."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import int8gemm
from .forked import cores
from .heap import release_freed
from .memory import available_memory
from .quantize import Codes, Floats, Int8Codes, Int8Scale

Ints = npt.NDArray[np.int64]
Shares = npt.NDArray[np.floating[Any]]  # per bit, the share of rows with it set

LSH_RECALL = 0.995  # chance that a pair exactly at the threshold shares at least one band
BAND_EXTRA_BITS = 4  # more bits per band: fewer chance candidates, more bands (see band_plan)
BRUTE_FORCE_BELOW = 4096  # fewer codes than this: exact blocked all-pairs is cheaper
# banded candidates checked one by one cost about 10x a pair of exact blocked all-pairs
# (4,500 hashing vectors of briefs drawn from a 20-word vocabulary: 60.3M candidates in
# 51 s against all 10.1M pairs in 0.89 s, session 48): past this share of all pairs, exact
EXACT_AFTER_SHARE = 0.1
# ... unless the pairs at or above the threshold are more than half the memory available
# holds (`exact_pairs_bound`), and at least this many (all pairs of 8,192 rows): then the
# bands go on, whose runs over 2,048 equal keys are dropped. 12,000 such briefs: dedupe took
# 14 min 18 s and grouped 5,725 of them, with exact 15.5 s (every pair, 11,740 grouped;
# session 49); 30,000 (73M pairs, over this): 2,000 bands of ~1.3 s (~45 min), exact 1 min
# 41 s (session 50)
EXACT_PAIRS = 1 << 25
# a similar pair's share of a whole dedupe's peak memory: 46 bytes for those 73M pairs (3.6
# GB), 61 in grouping when a stronger kind's members are left out (a copy of the pairs)
PAIR_PEAK_BYTES = 64
# how many cosines the rows of the bands' over-long runs may be compared with every row for
# (`row_pairs`, rows x n): 0.5e9 took 16.9 CPU s on a loaded machine (session 51), so this is
# ~6 CPU min (a family of 20,000 among 500,000 briefs); bands that cannot split a family miss
# many of its pairs
EXACT_ROW_SCORES = 10**10
MAX_BANDS = 2000  # more bands than this: codes too biased to band; exact all-pairs instead
PAIR_CHUNK = 1 << 22  # candidate pairs generated and filtered at a time
PROJECTED_BITS = 512  # random hyperplanes of the fallback when the stored sign bits are biased
SHARE_SAMPLE = 65536  # rows whose projections tell each hyperplane's share of rows


@dataclass(frozen=True)
class Pairs:
    """Pairs (i, j) of rows with i < j and their cosine similarity."""

    i: Ints
    j: Ints
    similarity: Floats

    def __len__(self) -> int:
        return len(self.i)

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: Sequence[Pairs]) -> Pairs:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.i for p in parts]), np.concatenate([p.j for p in parts]),
                   np.concatenate([p.similarity for p in parts]))

    @classmethod
    def drain(cls, parts: list[Pairs]) -> Pairs:
        """`concat` that empties `parts` as it copies them: the parts and the whole are not
        all held at once (1.3e7 pairs, 260 MB each way, at a million briefs)."""
        total = sum(len(p) for p in parts)
        out = cls(np.empty(total, np.int64), np.empty(total, np.int64),
                  np.empty(total, np.float32))
        at = 0
        parts.reverse()
        while parts:
            part = parts.pop()
            out.i[at:at + len(part)], out.j[at:at + len(part)] = part.i, part.j
            out.similarity[at:at + len(part)] = part.similarity
            at += len(part)
        return out

    def at_least(self, threshold: float) -> Pairs:
        return self.where(self.similarity >= threshold)

    def where(self, keep: npt.NDArray[np.bool_]) -> Pairs:
        """The pairs `keep` marks; these same ones, no copy, when it marks all (the inverted
        file's pairs all reach the threshold: 260 MB at a million briefs)."""
        if keep.all():
            return self
        return Pairs(self.i[keep], self.j[keep], self.similarity[keep])


def int8_norms(codes: Int8Codes) -> Floats:
    """Length of each int8 code (the step cancels out of every cosine); an archive's codes
    are divided by `StoredVectors.scale.lengths`, which also knows 4-bit ones."""
    return Int8Scale(1.0).lengths(codes)


def decoded(codes: Int8Codes, norms: Floats) -> Floats:
    """Unit float vectors behind some int8 codes."""
    unit: Floats = codes.astype(np.float32) / norms[:, None]
    return unit


def pair_cosines(codes: Int8Codes, norms: Floats, i: Ints, j: Ints,
                 chunk: int = 16384) -> Floats:
    """Cosine of rows i[k] and j[k] from their int8 codes, in bounded-memory chunks."""
    out = np.empty(len(i), np.float32)
    for start in range(0, len(i), chunk):
        a = codes[i[start:start + chunk]].astype(np.float32)
        b = codes[j[start:start + chunk]].astype(np.float32)
        out[start:start + chunk] = np.einsum("ij,ij->i", a, b)
    out /= norms[i] * norms[j]
    return out


def all_pairs(vectors: Floats, threshold: float, block: int = 2048) -> Pairs:
    """Every pair of unit rows with cosine ≥ threshold, exactly, block by block (the baseline
    the banded search is measured against, and the method for small inputs)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return _blocked_pairs(lambda a, b: vectors[a:b], len(vectors), threshold, block)


def all_code_pairs(codes: Int8Codes, norms: Floats, threshold: float, block: int = 4096,
                   progress: Callable[[int, int], None] | None = None,
                   max_pairs: int | None = None) -> Pairs:
    """`all_pairs` of the unit vectors behind int8 codes, decoding one block at a time: at
    most two decoded blocks and their similarity matrix are held (about 100 MB), never a float
    copy of every code (1.5 GB at a million rows of 384). Exact, and O(n²): the fallback when
    no banding fits the codes. TooManyPairs once more than `max_pairs` are found."""
    return _blocked_pairs(lambda a, b: decoded(codes[a:b], norms[a:b]), len(codes), threshold,
                          block, progress, max_pairs)


def exact_pairs_bound() -> int:
    """How many similar pairs the exact search may find before it gives up: what half the
    memory available now holds through a whole dedupe (half: the rest of the process, and
    what else runs), and never fewer than EXACT_PAIRS (so a machine's memory changes the
    outcome only past 2^25 pairs)."""
    available = available_memory()
    return EXACT_PAIRS if available is None else \
        max(EXACT_PAIRS, available // 2 // PAIR_PEAK_BYTES)


class TooManyPairs(Exception):
    """More pairs at or above the threshold than the caller said it can hold."""


def _blocked_pairs(rows: Callable[[int, int], Floats], n: int, threshold: float, block: int,
                   progress: Callable[[int, int], None] | None = None,
                   max_pairs: int | None = None) -> Pairs:
    """Pairs i < j with rows(i) . rows(j) ≥ threshold, over blocks of `block` rows
    (`rows(a, b)`: rows a..b-1 as unit floats); TooManyPairs once over `max_pairs`."""
    parts = []
    held = 0
    starts = range(0, n, block)
    for done, a in enumerate(starts):
        left = rows(a, a + block)
        for b in range(a, n, block):
            sims = left @ (left if b == a else rows(b, b + block)).T
            ii, jj = np.nonzero(sims >= threshold)
            if a == b:  # i < j only
                ii, jj = ii[ii < jj], jj[ii < jj]
            if len(ii):
                parts.append(Pairs(ii.astype(np.int64) + a, jj.astype(np.int64) + b,
                                   sims[ii, jj].astype(np.float32)))
                held += len(ii)
                if max_pairs is not None and held > max_pairs:
                    raise TooManyPairs(f"over {max_pairs} pairs")
        if progress:
            progress(done + 1, len(starts))
    return Pairs.drain(parts)  # (briefs of one template: 73M pairs, 1.5 GB a copy)


def query_pairs(queries: Floats, codes: Int8Codes, norms: Floats, threshold: float,
                block: int = 65536) -> tuple[Pairs, Floats]:
    """Pairs (query row, code row) with cosine ≥ threshold, by brute force over the codes
    (what a CI check of a few new briefs needs), and each query's best similarity."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    best = np.full(len(queries), -1.0, np.float32)
    parts = []
    for start in range(0, len(codes), block):
        sims = queries @ decoded(codes[start:start + block], norms[start:start + block]).T
        if sims.size:
            best = np.maximum(best, sims.max(axis=1))
        qi, ci = np.nonzero(sims >= threshold)
        if len(qi):
            parts.append(Pairs(qi.astype(np.int64), ci.astype(np.int64) + start,
                               sims[qi, ci].astype(np.float32)))
    return Pairs.concat(parts), best


def bit_flip_rate(threshold: float) -> float:
    """Chance that one sign bit differs between two vectors at this cosine (the angle over
    pi, as for random hyperplanes). The model's coordinate sign bits differ a little less often
    on average (20k Debian descriptions, pairs at 0.85-0.90: 0.161 against 0.177 predicted at
    0.85), though single pairs vary; bench/bench_dedupe.py measures the recall that results."""
    return math.acos(max(-1.0, min(1.0, threshold))) / math.pi


def band_plan(n: int, bits: int, threshold: float, recall: float = LSH_RECALL,
              seed: int = 0, ones: Shares | None = None, hyperplanes: bool = False,
              pooled: bool = True) -> list[npt.NDArray[np.intp]] | None:
    """Bit positions of each band, or None when banding would need more than MAX_BANDS.

    A band of k bits makes about n / 2**(BAND_EXTRA_BITS + 1) chance collisions when its
    bits carry log2 n + BAND_EXTRA_BITS bits of selectivity between them, so confirming
    candidates costs less than sorting the band keys. A bit set in a share m of the rows
    agrees between two random rows with chance m² + (1 - m)²: biased bits (`ones`, the share
    of rows with each bit set) tell less, so bands take more of them, and near-constant bits
    are never used. The band count then follows from the chance that a pair at the threshold
    agrees on all k bits of one band. `pooled` (the default) also accounts for the bands
    drawing from one pool of bits: a pair that happens to differ on more of the pool than
    usual misses every band together (`_pooled_band_count`). Without it, the model's stored
    bits found 0.975 of the pairs at 0.85 (20k real Debian codes; bench_dedupe
    --pairs-archive), as that count predicts, not LSH_RECALL. When the pooled count exceeds
    MAX_BANDS the stored bits' plan is capped there; with `hyperplanes` (the projected
    fallback, whose chance candidates are many) it is None (exact search) as before."""
    share = np.full(bits, 0.5) if ones is None else np.asarray(ones, np.float64)
    collide = share ** 2 + (1.0 - share) ** 2
    usable = np.flatnonzero(collide < 0.95)
    if not len(usable):
        return None
    selectivity = float(np.mean(-np.log2(collide[usable])))
    target = math.log2(max(n, 2)) + BAND_EXTRA_BITS
    k = int(min(64, len(usable), max(8, math.ceil(target / selectivity))))
    agree = (1.0 - bit_flip_rate(threshold)) ** k
    if agree >= 1.0 or agree <= 0:
        count = 1
    else:
        count = math.ceil(math.log(1.0 - recall) / math.log1p(-agree))
    if count > MAX_BANDS:
        return None
    if pooled:
        count = max(count, _pooled_band_count(len(usable), k, bit_flip_rate(threshold), recall))
        if count > MAX_BANDS:
            if hyperplanes:
                return None
            count = MAX_BANDS  # short of the target recall, but above the independent count
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(usable, size=k, replace=False)) for _ in range(count)]


def _bit_shares(bits: Codes, chunk: int = 65536) -> Shares:
    """The share of rows with each bit set, as the mean of the unpacked bits gives it (exact
    counts over n), a chunk of rows at a time."""
    counts = np.zeros(bits.shape[1] * 8, np.int64)
    for start in range(0, len(bits), chunk):
        counts += np.unpackbits(bits[start:start + chunk], axis=1).sum(axis=0, dtype=np.int64)
    shares: Shares = counts / max(len(bits), 1)
    return shares


def projected_signs(codes: Int8Codes, bits: int = PROJECTED_BITS, seed: int = 0,
                    chunk: int = 65536) -> Codes:
    """One row per hyperplane of a fixed seeded Gaussian projection: 1 where a code lies on
    its positive side (uint8, bits x rows, so a band's columns are contiguous reads). The
    length of a code does not change its signs, so the int8 codes need no decoding."""
    planes = np.random.default_rng(seed).standard_normal((codes.shape[1], bits)
                                                          ).astype(np.float32)
    out = np.empty((bits, len(codes)), np.uint8)
    for start in range(0, len(codes), chunk):
        block = codes[start:start + chunk].astype(np.float32) @ planes
        out[:, start:start + len(block)] = (block > 0).T
    return out


def _pooled_band_count(pool: int, k: int, flip: float, recall: float) -> int:
    """Fewest bands of k bits, drawn from a pool of independent bits each flipping with chance
    `flip`, that find a pair with the given recall: the pair differs on D ~ Binomial(pool,
    flip) bits of the pool, and a band misses it unless its k bits avoid all D. MAX_BANDS + 1
    when more are needed."""
    def ln_comb(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    weights, hits = [], []
    for d in range(pool - k + 1):
        weights.append(math.exp(ln_comb(pool, d) + d * math.log(flip)
                                + (pool - d) * math.log1p(-flip)))
        hits.append(math.exp(ln_comb(pool - d, k) - ln_comb(pool, k)))
    w, h = np.array(weights), np.array(hits)

    def found(count: int) -> float:
        return float(np.sum(w * -np.expm1(count * np.log1p(-np.minimum(h, 1 - 1e-16)))))

    if found(MAX_BANDS) < recall:
        return MAX_BANDS + 1
    lo, hi = 1, MAX_BANDS  # found() grows with the count: bisect
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if found(mid) < recall else (lo, mid)
    return lo


def key_pairs(keys: npt.NDArray[np.uint32], max_run: int = 2048) -> tuple[Ints, Ints]:
    """Every pair of rows with equal keys (runs longer than max_run are left to other bands:
    such a band key carries no information there)."""
    parts = list(key_pair_chunks(keys, max_run))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([i for i, _ in parts]), np.concatenate([j for _, j in parts])


def key_pair_chunks(keys: npt.NDArray[np.uint32], max_run: int = 2048,
                    chunk: int = PAIR_CHUNK, left_out: npt.NDArray[np.bool_] | None = None
                    ) -> Iterator[tuple[Ints, Ints]]:
    """`key_pairs` in pieces of about `chunk` pairs (whole runs each), so a band in which
    many large groups collide (a corpus with big families of similar briefs) is filtered
    piece by piece instead of held at once (at a million briefs such bands held GBs).
    `left_out` (one flag a row) is set at the rows of the runs over max_run, whose pairs
    are not made."""
    # sorting (key, row) packed in one uint64 is several times faster than an argsort
    packed = (keys.astype(np.uint64) << np.uint64(32)) | np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    sorted_keys = packed >> np.uint64(32)
    order = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
    del packed
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    lengths = np.diff(np.r_[starts, len(keys)])
    keep = (lengths >= 2) & (lengths <= max_run)
    if left_out is not None and (lengths > max_run).any():
        left_out[order[ranges(starts[lengths > max_run], lengths[lengths > max_run])]] = True
    starts, lengths = starts[keep], lengths[keep]
    total = np.cumsum(lengths * (lengths - 1) // 2)
    lo = 0
    while lo < len(starts):
        done = int(total[lo - 1]) if lo else 0
        hi = max(lo + 1, int(np.searchsorted(total, done + chunk, side="right")))
        yield _run_pairs(order, starts[lo:hi], lengths[lo:hi])
        lo = hi


def _run_pairs(order: Ints, starts: Ints, lengths: Ints) -> tuple[Ints, Ints]:
    """The pairs (i < j) within each run of sorted positions."""
    # each position p of a run pairs with the positions after it in the run
    positions = ranges(starts, lengths - 1)
    run_end = np.repeat(starts + lengths, lengths - 1)
    partners = run_end - positions - 1
    first = np.repeat(positions, partners)
    second = ranges(positions + 1, partners)
    i, j = order[first], order[second]
    return np.minimum(i, j), np.maximum(i, j)


def band_keys(columns: Codes, band: npt.NDArray[np.intp]) -> npt.NDArray[np.uint32]:
    """Each row's bits at the band's positions, as one integer (columns: one row of unpacked
    bits per bit position; a shift-and-or per bit beat packbits here). Bands over 32 bits are
    hashed down to 32: a hash collision only adds a candidate that the int8 check rejects."""
    if len(band) <= 32:
        keys = np.zeros(columns.shape[1], np.uint32)
        for shift, bit in enumerate(band):
            keys |= columns[bit].astype(np.uint32) << np.uint32(shift)
        return keys
    wide = np.zeros(columns.shape[1], np.uint64)
    for shift, bit in enumerate(band):
        wide |= columns[bit].astype(np.uint64) << np.uint64(shift)
    mixed: npt.NDArray[np.uint32] = ((wide * np.uint64(0x9E3779B97F4A7C15))
                                     >> np.uint64(32)).astype(np.uint32)
    return mixed


def ranges(starts: Ints, counts: Ints) -> Ints:
    """starts[0], starts[0]+1, … (counts[0] values), then the same for starts[1], …"""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    out: Ints = np.repeat(np.asarray(starts, np.int64), counts) + offset
    return out


def near_pairs(bits: Codes, codes: Int8Codes, threshold: float, *, seed: int = 0,
               norms: Floats | None = None, max_run: int = 2048,
               progress: Callable[[int, int], None] | None = None,
               pooled: bool = True, incomplete: Callable[[str], None] | None = None
               ) -> Pairs:
    """Pairs of rows whose int8 cosine is ≥ threshold: candidates from banding the binary
    codes, each confirmed once with the int8 codes (`pooled`: see band_plan; off only to
    measure the independent count). `incomplete` is told, in a sentence, when the pairs
    found may miss many (too many to hold all: see exact_pairs_bound)."""
    n = len(codes)
    norms = int8_norms(codes) if norms is None else norms
    if n < 2:
        return Pairs.empty()
    if n < BRUTE_FORCE_BELOW:
        return all_code_pairs(codes, norms, threshold)
    # the plans read only each bit's share of rows: the unpacked bits (768 MB at a million
    # rows while transposed) and the projections (512 MB) are made only for a plan that bands
    plan = band_plan(n, bits.shape[1] * 8, threshold, seed=seed, ones=_bit_shares(bits),
                     pooled=pooled)
    if plan is not None:
        # one row of unpacked bits per bit position, so a band's columns are contiguous reads
        columns = np.unpackbits(bits, axis=1).T.copy()
    else:
        # the stored sign bits are too biased to band (sparse or shifted vectors): band on
        # the signs of random hyperplanes instead (SimHash), which differ between two
        # vectors with chance angle / pi exactly, whatever the vectors' distribution
        # each hyperplane's share of rows on its positive side, from a seeded sample of rows
        # when they are many: the plan reads only the shares (to ~0.002), and projecting
        # every code cost ~7 CPU s at a million briefs, whose plan is then none anyway
        sampled = codes if n <= SHARE_SAMPLE else codes[np.sort(
            np.random.default_rng(seed).choice(n, SHARE_SAMPLE, replace=False))]
        shares: Shares = projected_signs(sampled, seed=seed).mean(axis=1)
        plan = band_plan(n, PROJECTED_BITS, threshold, seed=seed, ones=shares,
                         hyperplanes=True)
        if plan is None:  # even the projections are too biased (vectors sharing a direction)
            if n < IVF_ABOVE:  # exact, block by block
                return all_code_pairs(codes, norms, threshold)
            # exact is O(n²) (2 CPU hours at a million): an inverted file, recall measured
            return ivf_pairs(codes, norms, threshold,
                             ivf_plan(codes, norms, threshold, seed=seed), progress=progress)
        columns = projected_signs(codes, seed=seed)
    found: list[Pairs] = []
    known = np.zeros(0, np.int64)  # i * n + j of the pairs confirmed so far, sorted
    # briefs of one template can all be near one another: every band then makes most pairs
    # candidates again (and drops its runs over max_run), so past a share of all pairs
    # checked one by one, exact all-pairs is both cheaper and complete (up to the pairs that
    # memory holds, and below IVF_ABOVE codes, whose all-pairs take under ~20 CPU s)
    exact_after = n * (n - 1) // 2 * EXACT_AFTER_SHARE if n < IVF_ABOVE else None
    checked = 0
    left_out = np.zeros(n, bool)  # rows of some band's runs over max_run (see _with_left_out)
    for band_no, band in enumerate(plan):
        for i, j in key_pair_chunks(band_keys(columns, band), max_run, left_out=left_out):
            if len(known):
                # a close pair turns up in many bands: confirm it once
                key = i * n + j
                fresh = known[np.minimum(np.searchsorted(known, key), len(known) - 1)] != key
                i, j = i[fresh], j[fresh]
            checked += len(i)
            if exact_after is not None and checked > exact_after:
                bound = exact_pairs_bound()
                try:
                    return all_code_pairs(codes, norms, threshold, progress=progress,
                                          max_pairs=bound)
                except TooManyPairs:
                    exact_after = None  # too many to hold: the bands go on
                    if incomplete:
                        incomplete(f"over {bound:,} similar pairs, more than dedupe may hold "
                                   "in the memory available, so the rest were searched in a "
                                   "way that misses many: `similar` groups may lack members "
                                   "(a higher --threshold has fewer pairs; at "
                                   f"{PAIR_PEAK_BYTES} bytes a pair, more free memory holds "
                                   "more)")
            if len(i):
                sims = pair_cosines(codes, norms, i, j)
                hit = sims >= threshold
                if hit.any():
                    found.append(Pairs(i[hit], j[hit], sims[hit]))
                    # merged in, not re-sorted: a sort per band dominated with many bands
                    new = np.sort(i[hit] * n + j[hit])
                    known = np.insert(known, np.searchsorted(known, new), new)
        if progress:
            progress(band_no + 1, len(plan))
    if n < IVF_ABOVE and exact_after is None:  # exact all-pairs gave up (and said so):
        return Pairs.drain(found)  # the rows of the long runs would not fit either
    return _with_left_out(Pairs.drain(found), codes, norms, threshold,
                          np.flatnonzero(left_out), max_run, incomplete)


def _with_left_out(pairs: Pairs, codes: Int8Codes, norms: Floats, threshold: float,
                   rows: Ints, max_run: int, incomplete: Callable[[str], None] | None
                   ) -> Pairs:
    """The banded `pairs`, made whole for `rows`, those of a band's run over max_run (a
    dense family of briefs: 60,000 from one template are all one run): their pairs are
    searched exactly, against every row, when that is at most EXACT_ROW_SCORES cosines
    and the pairs fit in memory; else `incomplete` is told."""
    if not len(rows):
        return pairs
    n = len(codes)
    why = "too many to compare exactly with every brief"
    if len(rows) * n <= EXACT_ROW_SCORES:
        inside = np.zeros(n, bool)
        inside[rows] = True
        # the band pairs that touch the rows are about to be replaced: not counted, nor held
        outside = pairs.where(~(inside[pairs.i] | inside[pairs.j]))
        bound = exact_pairs_bound()
        try:
            exact = row_pairs(codes, norms, rows, threshold,
                              max_pairs=max(0, bound - len(outside)))
        except TooManyPairs:
            why = (f"their similar pairs more than dedupe may hold in the memory available "
                   f"(over {bound:,} in all)")
        else:
            return Pairs.drain([outside, exact])
    if incomplete:
        incomplete(f"{len(rows):,} briefs are in families of over {max_run:,} alike briefs "
                   f"that the pair search's bands cannot split, {why}, so some of their "
                   "similar pairs may be missed: `similar` groups may lack members")
    return pairs


def row_pairs(codes: Int8Codes, norms: Floats, rows: Ints, threshold: float,
              chunk: int | None = None, max_pairs: int | None = None) -> Pairs:
    """Every pair (i < j) at or above the threshold of which `rows` (sorted, distinct) hold
    one row or both, exactly: `chunk` of the rows at a time against every row. A chunk's
    pairs are held several times over before they are counted, so by default a chunk is
    PAIR_CHUNK / len(rows) rows (16 to 512): about PAIR_CHUNK pairs when the rows are one
    family all alike (~64 MB a copy). TooManyPairs once over `max_pairs`."""
    chunk = chunk or max(16, min(512, PAIR_CHUNK // max(1, len(rows))))
    inside = np.zeros(len(codes), bool)
    inside[rows] = True
    parts: list[Pairs] = []
    held = 0
    for start in range(0, len(rows), chunk):
        i, j = code_pairs_of_rows(rows[start:start + chunk], codes, norms, threshold)
        keep = ~inside[j] | (i < j)  # a pair of two of the rows comes from both: once
        i, j = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
        # scored as the bands' pairs are (the product's rounding may differ at the threshold)
        part = Pairs(i, j, pair_cosines(codes, norms, i, j)).at_least(threshold)
        parts.append(part)
        held += len(part)
        if max_pairs is not None and held > max_pairs:
            raise TooManyPairs(f"over {max_pairs} pairs")
    return Pairs.drain(parts)


# -- codes that cannot be banded: an inverted file (IVF) -------------------------------------
#
# numpy, not faiss: faiss-cpu 1.15.1's `range_search` scores each (query, listed vector) with
# its own dot product, where grouping the queries by list makes one BLAS product per list. On
# the 100k hashing archive, same lists and probes, same recall: 29.7 CPU s here, IndexIVFFlat
# 64.1 s, IndexIVFScalarQuantizer (SQ8) 36.6 s (RESULTS, "A million briefs: the similar
# kind"); not worth a 94 MB dependency (faiss and its bundled libraries).

IVF_ABOVE = 50_000  # fewer unbandable codes than this: exact all-pairs (under ~20 CPU s)
IVF_RECALL = 0.992  # share of the sampled rows' exact pairs the probes must reach (goal 0.99;
# 0.995 costs 1.7x the probes on the 100k hashing archive, RESULTS)
IVF_LISTS_BALANCE = 128  # lists = sqrt(n * this): twice the lists of sqrt(32 n), the filing
# against the scanning balance when the probes a recall needs were thought to stay (about 30)
# as the lists grow; at a million briefs, 2x the lists made that recall need 25 probes
# instead of 44 (held-out rows; RESULTS, "the inverted file's lists")
IVF_SAMPLE = 2048  # rows whose pairs are found exactly, to choose the probes and report recall
# (at least: 512 rows of the 1M archive held 14,687 pairs, in few families, and put the
# probes at 9 with 11,312 lists where 2,000 other rows needed 25 for 0.992 of their pairs)
IVF_SAMPLE_PAIRS = 5000  # more rows are sampled until their exact pairs are this many
IVF_SAMPLE_SCORES = 2 * 10**9  # or until this many exact cosines were scored (~30 CPU s)
IVF_TRAIN_PER_LIST = 8  # k-means sample: rows per list (its cost grows with the lists²)
IVF_KMEANS_ITERATIONS = 8  # 4 (a 100k sample of the 1M archive): plan -25% CPU, but 0.9903
# of the exact pairs found against 0.9912, too near the 0.99 goal
IVF_SCAN_SCORES = 1 << 21  # scores of one product of the scan or the filing (8 MB of float32)
IVF_MIN_PROBES = 2  # even when the sample shows no pair: a pair's two rows often straddle lists
IVF_THREADS = min(8, cores())  # numpy and onnxruntime release the GIL: one a core


@dataclass(frozen=True)
class Centres:
    """Unit list centres (k-means centroids) and the int8 codes the integer products read:
    each centre rounded with a step of its own (its largest coordinate / 127), so a code's
    score against it is the code's dot product with the centre to about 1e-3 of a cosine."""

    units: Floats
    codes_t: Int8Codes  # dimensions x centres (the products' right operand)
    steps: Floats

    @classmethod
    def of(cls, units: Floats) -> Centres:
        steps = (np.abs(units).max(axis=1) / 127.0).astype(np.float32)
        steps[steps == 0] = 1.0
        codes = np.rint(units / steps[:, None]).astype(np.int8)
        return cls(units, int8gemm.transposed(codes), steps)

    def __len__(self) -> int:
        return len(self.units)

    def scores(self, codes: Int8Codes) -> Floats:
        """Each code's dot product with each centre (rows x centres): a row's length does not
        change the order of its centres, so raw codes need no decoding."""
        return int8gemm.scaled(codes, self.codes_t, self.steps)


@dataclass(frozen=True)
class IvfPlan:
    """The lists (unit k-means centres), how many of its nearest lists each row searches,
    and the share of the exact pairs of `sampled` random rows that those probes reach (a pair
    is found when either row probes the other's list)."""

    centres: Centres
    probes: int
    recall: float
    sampled_pairs: int


def spherical_kmeans(codes: Int8Codes, norms: Floats, k: int, iterations: int = 8,
                     seed: int = 0, threads: int = IVF_THREADS) -> Floats:
    """k unit centroids of the unit vectors behind int8 codes (cosine k-means); an emptied
    list restarts at a random row. Rows are assigned by the integer products (`Centres`),
    blocks of them on `threads` threads."""
    rng = np.random.default_rng(seed)
    units = decoded(codes, norms)
    centroids = units[rng.choice(len(units), k, replace=False)].copy()
    # rows x lists at once is 4 GB at a million briefs' 90k x 11,313: blocks of a product
    block = max(1, IVF_SCAN_SCORES // k)
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(iterations):
            centres = Centres.of(centroids)

            def nearest(start: int, centres: Centres = centres) -> npt.NDArray[np.intp]:
                cell: npt.NDArray[np.intp] = np.argmax(
                    centres.scores(codes[start:start + block]), axis=1)
                return cell

            cell = np.concatenate(list(pool.map(nearest, range(0, len(codes), block))))
            sums = np.zeros_like(centroids)
            np.add.at(sums, cell, units)
            lengths = np.linalg.norm(sums, axis=1)
            empty = lengths == 0
            sums[empty] = units[rng.choice(len(units), int(empty.sum()), replace=False)]
            lengths[empty] = 1.0
            centroids = (sums / lengths[:, None]).astype(np.float32)
    release_freed()
    return centroids


def nearest_lists(codes: Int8Codes, centres: Centres, count: int) -> npt.NDArray[np.int32]:
    """Each code's `count` nearest lists, nearest first, by the integer products' scores."""
    return top_lists(centres.scores(codes), count)


def top_lists(sims: Floats, count: int) -> npt.NDArray[np.int32]:
    """Each row's `count` highest-scoring columns (rows x lists scores), highest first."""
    nlist = sims.shape[1]
    count = min(count, nlist)
    if count == nlist:
        top = np.broadcast_to(np.arange(nlist), sims.shape)
    else:
        # the count-th score by partitioning values (~1 ns a score here), then the scores at
        # or above it, found flat (0.3 ns a score; a 2-D nonzero took 2 ns, argpartition 1.7)
        kth = np.partition(sims, nlist - count, axis=1)[:, nlist - count]
        at = np.flatnonzero(sims >= kth[:, None])
        if len(at) == sims.size // nlist * count:
            top = (at % nlist).reshape(len(sims), count)
        else:  # ties at the count-th score in some rows: their indices the slow way
            row = at // nlist
            tied = np.bincount(row, minlength=len(sims)) != count
            top = np.empty((len(sims), count), np.int64)
            top[~tied] = (at[~tied[row]] % nlist).reshape(-1, count)
            top[tied] = np.argpartition(sims[tied], nlist - count, axis=1)[:, nlist - count:]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1)
    out: npt.NDArray[np.int32] = np.take_along_axis(top, order, 1).astype(np.int32)
    return out


def code_pairs_of_rows(rows: Ints, codes: Int8Codes, norms: Floats, threshold: float,
                       block: int | None = None, threads: int = IVF_THREADS
                       ) -> tuple[Ints, Ints]:
    """Every pair (a, b), a in `rows`, b any other row, whose cosine is ≥ threshold, exactly:
    the integer products of the rows' codes with every code, a block of codes at a time on
    `threads` threads (blocks of IVF_SCAN_SCORES scores: 2,048 rows x 8,192 codes held 230 MB
    more at the peak, against 82 MB for 1,024 codes, at the same CPU)."""
    block = block or max(1, IVF_SCAN_SCORES // max(1, len(rows)))
    left = codes[rows]
    bound = threshold * norms[rows][:, None]

    def block_pairs(start: int) -> tuple[Ints, Ints]:
        part = slice(start, start + block)
        sims = int8gemm.scaled(left, int8gemm.transposed(codes[part]), 1.0 / norms[part])
        qi, ci = np.nonzero(sims >= bound)
        return rows[qi], ci.astype(np.int64) + start

    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(block_pairs, range(0, len(codes), block)))
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    keep = a != b
    return a[keep], b[keep]


def ivf_plan(codes: Int8Codes, norms: Floats, threshold: float, nlist: int | None = None,
             probes: int | None = None, recall: float = IVF_RECALL, seed: int = 0,
             sample: int = IVF_SAMPLE) -> IvfPlan:
    """Lists by k-means on a sample of the codes, and the fewest probes that reach `recall`
    of the exact pairs of seeded random rows (`sample` of them or more, see
    IVF_SAMPLE_PAIRS; at most an eighth of the lists: beyond
    that the search nears the all-pairs cost; the plan's recall then says what it reaches)."""
    n = len(codes)
    rng = np.random.default_rng(seed)
    # filing n rows costs n x lists scores, scanning n² x probes / lists x the lists' skew
    # (the probes a recall needs fell as the lists grew, see IVF_LISTS_BALANCE)
    nlist = nlist or max(16, int(math.sqrt(n * IVF_LISTS_BALANCE)))
    train = np.sort(rng.choice(n, min(n, nlist * IVF_TRAIN_PER_LIST), replace=False))
    centres = Centres.of(spherical_kmeans(codes[train], norms[train], nlist,
                                          IVF_KMEANS_ITERATIONS, seed))
    # sampled rows' exact pairs: rows added in doubling rounds until the pairs are enough
    # to read a recall near 0.995 from, or the exact scoring reaches IVF_SAMPLE_SCORES
    shuffled = rng.permutation(n)
    cap = min(n, max(sample, IVF_SAMPLE_SCORES // n))
    parts_a: list[Ints] = []
    parts_b: list[Ints] = []
    done = 0
    while done < cap and (not done or sum(map(len, parts_a)) < IVF_SAMPLE_PAIRS):
        rows = np.sort(shuffled[done:min(cap, max(sample, 2 * done))])
        found_a, found_b = code_pairs_of_rows(rows, codes, norms, threshold)
        parts_a.append(found_a)
        parts_b.append(found_b)
        done += len(rows)
    a, b = np.concatenate(parts_a), np.concatenate(parts_b)
    if not len(a):
        return IvfPlan(centres, probes or IVF_MIN_PROBES, 1.0, 0)
    most = max(1, nlist // 8)
    need = np.empty(len(a), np.int64)  # probes that find each sampled pair
    # pairs a product of IVF_SCAN_SCORES: 4,096 rows x 11,313 lists at once, with the
    # partition's copy, swung a million briefs' dedupe by 1.2 GB
    step = max(1, IVF_SCAN_SCORES // nlist)
    for start in range(0, len(a), step):
        near_a = nearest_lists(codes[a[start:start + step]], centres, most)
        near_b = nearest_lists(codes[b[start:start + step]], centres, most)
        # where a row's list stands among the other row's nearest lists (most + 1: not there)
        rank_a = _position(near_a, near_b[:, 0], most)
        rank_b = _position(near_b, near_a[:, 0], most)
        need[start:start + step] = np.minimum(rank_a, rank_b) + 1
    if probes is None:
        need.sort()
        probes = int(need[min(len(need) - 1, math.ceil(recall * len(need)) - 1)])
        probes = max(IVF_MIN_PROBES, min(probes, most))
    release_freed()
    return IvfPlan(centres, probes, float(np.mean(need <= probes)), len(need))


def _position(near: npt.NDArray[np.int32], wanted: npt.NDArray[np.int32], most: int) -> Ints:
    """Where wanted[k] stands in row k of `near` (0: nearest), or `most` when it is not
    there."""
    hit = near == wanted[:, None]
    found: Ints = np.where(hit.any(axis=1), hit.argmax(axis=1), most)
    return found


def ivf_pairs(codes: Int8Codes, norms: Floats, threshold: float, plan: IvfPlan,
              chunk: int = IVF_SCAN_SCORES, progress: Callable[[int, int], None] | None = None,
              threads: int = IVF_THREADS) -> Pairs:
    """Pairs at or above the threshold among the rows that share a probe: each row is filed
    in its nearest list and searched against the rows of its `plan.probes` nearest lists,
    one list at a time (the rows probing it times its rows, one integer product). Every pair
    returned is scored exactly as `all_code_pairs` scores it; pairs whose rows never meet
    are missed (`plan.recall` estimates the share found). Blocks of rows, then groups of
    lists, are shared among `threads` threads (numpy and onnxruntime release the GIL); the pairs
    do not depend on their number."""
    from threadpoolctl import threadpool_limits

    # BLAS (numpy's products when int8gemm falls back to them) on one thread a call, the
    # pool's threads in parallel: with OpenBLAS's own threads its idle worker spins between
    # these many small products (100k sample of the 1M archive, 2 pool threads, a loaded
    # machine: 26.7 CPU s against 10.5)
    with threadpool_limits(limits=1, user_api="blas"):
        return _ivf_pairs(codes, norms, threshold, plan, chunk, progress, threads)


def _ivf_pairs(codes: Int8Codes, norms: Floats, threshold: float, plan: IvfPlan, chunk: int,
               progress: Callable[[int, int], None] | None, threads: int) -> Pairs:
    n, centres, probes = len(codes), plan.centres, plan.probes
    nlist = len(centres)
    # each row's nearest lists, its own first (int16 when it can: this is n x probes)
    probed = np.empty((n, probes), np.int16 if nlist < 2**15 else np.int32)
    # rows filed at a time: `chunk` scores, for the same reason as the scan's products (100k
    # rows against 11,312 lists: 11.0-12.0 CPU s, 0 system, against 16.5-18.1 in 2,048-row
    # blocks, a third of it system time)
    filing = max(1, chunk // nlist)

    def file(start: int) -> None:
        probed[start:start + filing] = nearest_lists(codes[start:start + filing], centres,
                                                     probes)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(file, range(0, n, filing)))
    release_freed()
    home = probed[:, 0].astype(np.int64)
    members = np.argsort(home, kind="stable")
    member_starts = np.searchsorted(home[members], np.arange(nlist + 1))
    flat = probed.ravel()
    # the rows probing each list, made for a group of lists at a time: for all lists at once,
    # the sort's int64 order alone is 320 MB at a million rows and 40 probes
    group = max(1, nlist // 32)

    def scan(first: int) -> list[Pairs]:
        at = np.flatnonzero((flat >= first) & (flat < first + group))
        at = at[np.argsort(flat[at], kind="stable")]
        query_starts = np.searchsorted(flat[at], np.arange(first, first + group + 1))
        queries = (at // probes).astype(np.int32)
        del at
        found: list[Pairs] = []
        for cell in range(first, min(nlist, first + group)):
            listed = members[member_starts[cell]:member_starts[cell + 1]]
            asking = queries[query_starts[cell - first]:query_starts[cell - first + 1]]
            found.extend(_list_pairs(codes, norms, threshold, listed, asking, probed, home,
                                     chunk))
        return found

    found: list[Pairs] = []
    with ThreadPoolExecutor(threads) as pool:
        for first, part in zip(range(0, nlist, group), pool.map(scan, range(0, nlist, group)),
                               strict=True):
            found.extend(part)
            if progress:
                progress(min(nlist, first + group), nlist)
    pairs = Pairs.drain(found)
    release_freed()
    return pairs


def _list_pairs(codes: Int8Codes, norms: Floats, threshold: float, listed: Ints,
                asking: npt.NDArray[np.int32], probed: npt.NDArray[np.integer[Any]],
                home: Ints, chunk: int) -> list[Pairs]:
    """ivf_pairs' pairs between one list's rows (`listed`) and the rows probing it."""
    found: list[Pairs] = []
    if len(listed):
        listed_t = int8gemm.transposed(codes[listed])
        inverse = 1.0 / norms[listed]
        # probing rows a product: at most `chunk` scores, so the product stays on the heap
        # instead of a fresh mmap whose pages the kernel zeroes each time (the big lists of a
        # million briefs, 8,192 x 2,500 scores: 40% of the scan's CPU was system time)
        step = max(1, chunk // len(listed))
        for start in range(0, len(asking), step):
            rows = asking[start:start + step].astype(np.int64)
            # dot products over the listed rows' lengths; the probing rows' lengths scale
            # the threshold instead, and only the hits are divided
            raw = int8gemm.scaled(codes[rows], listed_t, inverse)
            bound = threshold * norms[rows]
            # hits are rare (~1 score in 1,000): the rows holding one, by a row maximum (a
            # fast reduction), then only theirs searched (a compare and a nonzero over every
            # score took longer than the product: 13 against 11 CPU s on 300k rows)
            holding = np.flatnonzero(raw.max(axis=1) >= bound)
            qi, li = np.divmod(np.flatnonzero(raw[holding] >= bound[holding][:, None]),
                               raw.shape[1])
            qi = holding[qi]
            sims = raw[qi, li] / norms[rows[qi]]
            hit = sims >= threshold
            qi, li, sims = qi[hit], li[hit], sims[hit]
            a, b = rows[qi], listed[li]
            # each pair once: from the lower row when both rows probe the other's list
            both = (probed[b] == home[a][:, None]).any(axis=1)
            keep = (a != b) & ((a < b) | ~both)
            if keep.any():
                a, b = a[keep], b[keep]
                found.append(Pairs(np.minimum(a, b), np.maximum(a, b),
                                   sims[keep].astype(np.float32)))
    return found
