"""Duplicate briefs: `exact` (same bytes), `normalized` (same text once whitespace, line endings
and case are normalized) and `near` (cosine of brief vectors ≥ a threshold), as transitive
groups whose members carry their similarity to the group's first (oldest) member.

Near pairs never come from an all-pairs matrix. Candidates come from the stored binary codes
by banding (bit-sampling LSH: two briefs are candidates when their codes agree on every bit of
some band of k sampled bits) and are confirmed with the int8 rescoring codes. The number of
bands is computed from the threshold so that a pair at the threshold is found with probability
`LSH_RECALL`; pairs above it are found more surely still. Everything here is numpy over codes;
only `find_duplicates` with new paths loads a model."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import UsageError
from .quantize import Codes, Floats, Int8Codes, Int8Scale

if TYPE_CHECKING:
    from .sources import Source
    from .store import Archive, BriefRecord, Snapshot
    from .text import Skipped

Ints = npt.NDArray[np.int64]

# Chosen from data (README, "How the default threshold was chosen"): with the bundled model
# the fixture near-copy scores 0.99, the paraphrase 0.93 and two versions of one brief 0.89,
# while unrelated briefs stay below 0.6; see bench/bench_dedupe.py for real-data figures.
DEFAULT_THRESHOLD = 0.85
# Normalizing whitespace, line endings and case leaves the bundled (uncased) model's tokens
# unchanged, so such copies have practically identical vectors; only units this close are
# decoded and hashed for the `normalized` kind (see `_normalized_classes`).
NORMALIZED_GATE = 0.98
LSH_RECALL = 0.995  # chance that a pair exactly at the threshold shares at least one band
BAND_EXTRA_BITS = 4  # more bits per band: fewer chance candidates, more bands (see band_plan)
BRUTE_FORCE_BELOW = 4096  # fewer codes than this: exact blocked all-pairs is cheaper
MAX_BANDS = 2000  # more bands than this: codes too biased to band; exact all-pairs instead
KIND_RANK = {"exact": 0, "normalized": 1, "near": 2}


def check_threshold(threshold: float) -> float:
    if not 0.0 < threshold <= 1.0 or math.isnan(threshold):
        raise UsageError(f"--threshold must be in (0, 1], not {threshold}; "
                         f"the default is {DEFAULT_THRESHOLD}")
    return threshold


# -- text -----------------------------------------------------------------------------------

def normalize_text(text: str) -> str:
    """What a `normalized` duplicate ignores: runs of whitespace (line endings, indentation,
    re-wrapping), a byte-order mark, and case."""
    return " ".join(text.replace("\ufeff", "").casefold().split())


def text_key(text: str) -> bytes:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).digest()


# -- near pairs -----------------------------------------------------------------------------

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

    def at_least(self, threshold: float) -> Pairs:
        keep = self.similarity >= threshold
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
    parts = []
    for a in range(0, len(vectors), block):
        left = vectors[a:a + block]
        for b in range(a, len(vectors), block):
            sims = left @ vectors[b:b + block].T
            if a == b:
                sims = np.triu(sims, k=1) - np.tril(np.ones_like(sims))  # i < j only
            ii, jj = np.nonzero(sims >= threshold)
            if len(ii):
                parts.append(Pairs(ii.astype(np.int64) + a, jj.astype(np.int64) + b,
                                   sims[ii, jj].astype(np.float32)))
    return Pairs.concat(parts)


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
              seed: int = 0, ones: Floats | None = None) -> list[npt.NDArray[np.intp]] | None:
    """Bit positions of each band, or None when banding would need more than MAX_BANDS.

    A band of k bits makes about n / 2**(BAND_EXTRA_BITS + 1) chance collisions when its
    bits carry log2 n + BAND_EXTRA_BITS bits of selectivity between them, so confirming
    candidates costs less than sorting the band keys. A bit set in a share m of the rows
    agrees between two random rows with chance m² + (1 - m)²: biased bits (`ones`, the share
    of rows with each bit set) tell less, so bands take more of them, and near-constant bits
    are never used. The band count then follows from the chance that a pair at the threshold
    agrees on all k bits of one band."""
    share = np.full(bits, 0.5) if ones is None else np.asarray(ones, np.float64)
    collide = share ** 2 + (1.0 - share) ** 2
    usable = np.flatnonzero(collide < 0.95)
    if not len(usable):
        return None
    selectivity = float(np.mean(-np.log2(collide[usable])))
    target = math.log2(max(n, 2)) + BAND_EXTRA_BITS
    k = int(min(64, len(usable), max(8, math.ceil(target / selectivity))))
    agree = (1.0 - bit_flip_rate(threshold)) ** k
    if agree >= 1.0:
        count = 1
    else:
        count = math.ceil(math.log(1.0 - recall) / math.log1p(-agree)) if agree > 0 else 1
    if count > MAX_BANDS:
        return None
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(usable, size=k, replace=False)) for _ in range(count)]


def _run_pairs(keys: npt.NDArray[np.uint32], max_run: int) -> tuple[Ints, Ints]:
    """Every pair of rows with equal keys (runs longer than max_run are left to other bands:
    such a band key carries no information there)."""
    # sorting (key, row) packed in one uint64 is several times faster than an argsort
    packed = (keys.astype(np.uint64) << np.uint64(32)) | np.arange(len(keys), dtype=np.uint64)
    packed.sort()
    sorted_keys = packed >> np.uint64(32)
    order = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    lengths = np.diff(np.r_[starts, len(keys)])
    keep = (lengths >= 2) & (lengths <= max_run)
    starts, lengths = starts[keep], lengths[keep]
    if not len(starts):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # each position p of a run pairs with the positions after it in the run
    positions = _ranges(starts, lengths - 1)
    run_end = np.repeat(starts + lengths, lengths - 1)
    partners = run_end - positions - 1
    first = np.repeat(positions, partners)
    second = _ranges(positions + 1, partners)
    i, j = order[first].astype(np.int64), order[second].astype(np.int64)
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


def _ranges(starts: Ints, counts: Ints) -> Ints:
    """starts[0], starts[0]+1, … (counts[0] values), then the same for starts[1], …"""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    out: Ints = np.repeat(np.asarray(starts, np.int64), counts) + offset
    return out


def near_pairs(bits: Codes, codes: Int8Codes, threshold: float, *, seed: int = 0,
               norms: Floats | None = None, max_run: int = 2048,
               progress: Callable[[int, int], None] | None = None) -> Pairs:
    """Pairs of rows whose int8 cosine is ≥ threshold: candidates from banding the binary
    codes, each confirmed once with the int8 codes."""
    n = len(codes)
    norms = int8_norms(codes) if norms is None else norms
    if n < 2:
        return Pairs.empty()
    if n < BRUTE_FORCE_BELOW:
        return all_pairs(decoded(codes, norms), threshold)
    # one row of unpacked bits per bit position, so a band's columns are contiguous reads
    columns = np.unpackbits(bits, axis=1).T.copy()
    ones = columns.mean(axis=1, dtype=np.float64)
    plan = band_plan(n, columns.shape[0], threshold, seed=seed, ones=ones)
    if plan is None:  # codes too biased to band (sparse vectors): exact, block by block
        return all_pairs(decoded(codes, norms), threshold)
    found: list[Pairs] = []
    known = np.zeros(0, np.int64)  # i * n + j of the pairs confirmed so far, sorted
    for band_no, band in enumerate(plan):
        i, j = _run_pairs(band_keys(columns, band), max_run)
        if len(i) and len(known):
            # a close pair turns up in many bands: confirm it once
            key = i * n + j
            fresh = known[np.minimum(np.searchsorted(known, key), len(known) - 1)] != key
            i, j = i[fresh], j[fresh]
        if len(i):
            sims = pair_cosines(codes, norms, i, j)
            hit = sims >= threshold
            if hit.any():
                found.append(Pairs(i[hit], j[hit], sims[hit]))
                known = np.sort(np.concatenate([known, i[hit] * n + j[hit]]))
        if progress:
            progress(band_no + 1, len(plan))
    return Pairs.concat(found)


def components(n: int, i: Ints, j: Ints) -> Ints:
    """Union-find over n items: the label (smallest member) of each item's component."""
    parent = np.arange(n, dtype=np.int64)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = int(parent[root])
        while parent[x] != root:  # path compression
            parent[x], x = root, int(parent[x])
        return root

    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(x) for x in range(n)], dtype=np.int64)


def histogram(similarities: Floats, lo: float = 0.5, width: float = 0.025
              ) -> list[tuple[float, int]]:
    """(bin start, count) over [lo, 1]; everything below lo falls in the first bin."""
    edges = np.arange(lo, 1.0 + width / 2, width)
    clipped = np.clip(np.asarray(similarities, np.float64), lo, 1.0)
    counts, _ = np.histogram(clipped, bins=np.r_[edges[:-1], 1.0 + 1e-9])
    return [(round(float(e), 4), int(c)) for e, c in zip(edges[:-1], counts, strict=True)]


# -- groups ---------------------------------------------------------------------------------

@dataclass
class Member:
    path: str
    similarity: float  # to the group's first member
    new: bool = False  # given on the command line, not (yet) archived


@dataclass
class Group:
    kind: str  # exact | normalized | near
    members: list[Member]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "paths": [m.path for m in self.members],
                "similarities": [round(m.similarity, 4) for m in self.members],
                "new": [m.new for m in self.members]}


@dataclass
class DedupeReport:
    groups: list[Group]
    threshold: float
    briefs: int  # briefs compared (archived latest versions plus new ones)
    new: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    histogram: list[tuple[float, int]] | None = None
    histogram_of: str = ""  # what the histogram counts

    @property
    def redundant(self) -> list[str]:
        """Archived paths a prune removes: every member but the first of each group."""
        return [m.path for g in self.groups for m in g.members[1:] if not m.new]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "threshold": self.threshold, "briefs": self.briefs,
            "groups": [g.to_json() for g in self.groups],
            "new": self.new,
            "skipped": [{"path": s.name, "reason": s.reason} for s in self.skipped]}
        if self.histogram is not None:
            out["histogram"] = {"of": self.histogram_of,
                                "bins": [{"from": lo, "count": c} for lo, c in self.histogram]}
        return out


@dataclass
class _Unit:
    """One distinct content (sha256) and the paths that hold it, oldest first."""

    paths: list[tuple[tuple[int, str, str], str, bool]]  # (age key, path, new)
    row: int  # its row in the vector table (archived rows first, then new ones)
    text: Callable[[], str]


def find_duplicates(archive: Archive, sources: Iterable[Source | Skipped] | None = None, *,
                    threshold: float = DEFAULT_THRESHOLD, histogram_of_nearest: bool = False,
                    progress: Callable[[str], None] | None = None,
                    snapshot: Snapshot | None = None) -> DedupeReport:
    """Duplicate groups among the archive's briefs (latest versions), or, given `sources`,
    groups that involve them: the new briefs against the archive and each other, without
    adding them. A new brief named like an archived one is its next version, not its
    duplicate: the archived one is left out of the comparison. With `snapshot`, the archived
    briefs are the versions that snapshot holds."""
    from .store import BRIEF_KINDS
    from .text import Admitted, admit, decode_text

    check_threshold(threshold)
    say = progress or (lambda _: None)
    by_content = archive.paths_by_content(snapshot=snapshot)
    new_sources: list[Admitted] = []
    skipped: list[Skipped] = []
    for source in sources or ():
        item = admit(source)
        if isinstance(item, Admitted):
            new_sources.append(item)
        elif item is not None:
            skipped.append(item)
    path_mode = sources is not None
    replaced = {item.name for item in new_sources}

    say("reading stored codes")
    stored = archive.vectors(kinds=BRIEF_KINDS)
    row_of = {int(c): r for r, c in enumerate(stored.content_ids.tolist())}
    units: dict[bytes, _Unit] = {}
    for content_id, records in by_content.items():
        kept = [r for r in records if r.path not in replaced]
        if not kept or content_id not in row_of:
            continue
        units[bytes.fromhex(kept[0].sha256)] = _Unit(
            [(_age(r), r.path, False) for r in kept], row_of[content_id],
            _archived_text(archive, content_id))
    archived_rows = np.array(sorted(u.row for u in units.values()), dtype=np.int64)

    new_texts: list[str] = []
    copies = 0  # new briefs with the bytes of another brief (their nearest is at 1.0)
    for order, item in enumerate(new_sources):
        name, data, digest = item.name, item.data, item.digest
        age = (1, f"{order:012d}", name)  # new briefs are younger than every archived one
        if digest in units:
            units[digest].paths.append((age, name, True))
            copies += 1
            continue
        text = decode_text(data)[0]
        units[digest] = _Unit([(age, name, True)], len(stored) + len(new_texts),
                              _given_text(text))
        new_texts.append(text)

    codes = archive.all_int8(BRIEF_KINDS) if len(archived_rows) or new_texts else None
    norms = stored.scale.lengths(codes) if codes is not None else np.zeros(0, np.float32)
    new_vectors = np.zeros((0, stored.dim or 1), np.float32)
    if new_texts:
        from .encoder import archive_encoder, encode_briefs

        say(f"encoding {len(new_texts)} new brief(s)")
        encoded = encode_briefs(archive_encoder(archive), new_texts)
        new_vectors = np.vstack([e.brief_vector for e in encoded]).astype(np.float32)

    gate = min(threshold, NORMALIZED_GATE)
    best: Floats = np.zeros(0, np.float32)
    # the archived briefs' rows, copied out once (384 MB at a million briefs) for the pair
    # search and the histogram alike
    archived_codes = archived_norms = None
    if not path_mode and codes is not None and len(archived_rows):
        archived_codes, archived_norms = codes[archived_rows], norms[archived_rows]
    say("finding near pairs")
    if path_mode:
        pairs, best = _new_pairs(new_vectors, codes, norms, archived_rows, len(stored), gate)
    elif archived_codes is not None and archived_norms is not None:
        local = near_pairs(stored.bits[archived_rows], archived_codes, gate,
                           norms=archived_norms)
        pairs = Pairs(archived_rows[local.i], archived_rows[local.j], local.similarity)
    else:
        pairs = Pairs.empty()

    def vector(row: int) -> Floats:
        if row >= len(stored):
            out: Floats = new_vectors[row - len(stored)]
            return out
        assert codes is not None
        unit: Floats = decoded(codes[row:row + 1], norms[row:row + 1])[0]
        return unit

    report = DedupeReport(_group(units, pairs, threshold, vector), threshold,
                          briefs=sum(len(u.paths) for u in units.values()),
                          new=[item.name for item in new_sources], skipped=skipped)
    if path_mode:
        report.groups = [g for g in report.groups if any(m.new for m in g.members)]
    if histogram_of_nearest:
        if path_mode:
            report.histogram = histogram(np.r_[best, np.ones(copies, np.float32)])
            report.histogram_of = "each new brief's most similar brief"
        elif archived_codes is not None and archived_norms is not None:
            report.histogram = histogram(_sampled_nearest(archived_codes, archived_norms))
            n = len(archived_rows)
            report.histogram_of = (f"each brief's most similar other brief ({n} briefs)"
                                   if n <= NEAREST_SAMPLE else
                                   "the most similar other brief of each of "
                                   f"{NEAREST_SAMPLE} sampled briefs (of {n})")
    return report


NEAREST_SAMPLE = 2000


def _sampled_nearest(codes: Int8Codes, norms: Floats, seed: int = 0) -> Floats:
    """The similarity of a seeded sample of briefs to their nearest other brief (exact, by
    brute force over all codes: a sample keeps it to seconds at a million briefs)."""
    n = len(codes)
    if n < 2:
        return np.zeros(0, np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(n, NEAREST_SAMPLE), replace=False))
    queries = decoded(codes[rows], norms[rows])
    best = np.full(len(rows), -1.0, np.float32)
    for start in range(0, n, 65536):
        sims = queries @ decoded(codes[start:start + 65536], norms[start:start + 65536]).T
        own = (rows >= start) & (rows < start + 65536)
        sims[np.flatnonzero(own), rows[own] - start] = -1.0  # not itself
        best = np.maximum(best, sims.max(axis=1))
    return best


def _new_pairs(new_vectors: Floats, codes: Int8Codes | None, norms: Floats,
               archived_rows: Ints, n_stored: int, gate: float) -> tuple[Pairs, Floats]:
    """New briefs against the archive (brute force over its int8 codes: a CI check brings a
    few briefs) and against each other (exact floats). Rows: archived, then n_stored + k."""
    parts = []
    best = np.full(len(new_vectors), -1.0, np.float32)
    if codes is not None and len(archived_rows) and len(new_vectors):
        against, best = query_pairs(new_vectors, codes[archived_rows], norms[archived_rows],
                                    gate)
        parts.append(Pairs(archived_rows[against.j], against.i + n_stored,
                           against.similarity))
    among = all_pairs(new_vectors, gate)
    if len(new_vectors) > 1:
        sims = new_vectors @ new_vectors.T
        np.fill_diagonal(sims, -1.0)
        best = np.maximum(best, sims.max(axis=1))
    parts.append(Pairs(among.i + n_stored, among.j + n_stored, among.similarity))
    return Pairs.concat(parts), best


def _group(units: dict[bytes, _Unit], pairs: Pairs, threshold: float,
           vector: Callable[[int], Floats]) -> list[Group]:
    """Exact groups (paths of one content), normalized groups (one representative per
    content), near groups (one representative per normalized class): each pair of briefs
    is reported in its strongest kind only, and pruning all but the first member of every
    group leaves one brief per near cluster."""
    groups: list[Group] = []
    for unit in units.values():
        unit.paths.sort()
        if len(unit.paths) > 1:
            groups.append(Group("exact", [Member(p, 1.0, new) for _, p, new in unit.paths]))
    by_row = {u.row: u for u in units.values()}
    valid = np.array([a in by_row and b in by_row for a, b in
                      zip(pairs.i.tolist(), pairs.j.tolist(), strict=True)], dtype=bool)
    pairs = Pairs(pairs.i[valid], pairs.j[valid], pairs.similarity[valid]) if len(pairs) \
        else pairs

    classes = _normalized_classes(by_row, pairs)
    for rows in classes:
        if len(rows) > 1:
            groups.append(_members_group("normalized", [by_row[r] for r in rows], vector))
    # near: nodes are normalized classes (or lone contents), edges the pairs ≥ threshold;
    # only rows in such pairs are touched (a million lone briefs cost nothing here)
    class_of = {r: c for c, rows in enumerate(classes) for r in rows}
    lone = len(classes)  # node of a lone row r: lone + r

    def node(row: int) -> int:
        return class_of.get(row, lone + row)

    strong = pairs.at_least(threshold)
    a = [node(x) for x in strong.i.tolist()]
    b = [node(x) for x in strong.j.tolist()]
    nodes = sorted(set(a) | set(b))
    if nodes:
        local = {n: k for k, n in enumerate(nodes)}
        labels = components(len(nodes), np.array([local[x] for x in a], np.int64),
                            np.array([local[x] for x in b], np.int64))
        members: dict[int, list[_Unit]] = {}
        for n, label in zip(nodes, labels.tolist(), strict=True):
            # a normalized class takes part through its oldest content
            held = [by_row[r] for r in classes[n]] if n < lone else [by_row[n - lone]]
            members.setdefault(label, []).append(min(held, key=lambda u: u.paths[0]))
        for units_in in members.values():
            if len(units_in) > 1:
                groups.append(_members_group("near", units_in, vector))
    groups.sort(key=lambda g: (KIND_RANK[g.kind], g.members[0].path))
    return groups


def _members_group(kind: str, units: list[_Unit], vector: Callable[[int], Floats]) -> Group:
    units = sorted(units, key=lambda u: u.paths[0])
    first = vector(units[0].row)
    members = []
    for unit in units:
        _, path, new = unit.paths[0]
        similarity = 1.0 if unit is units[0] else float(np.clip(vector(unit.row) @ first,
                                                                -1.0, 1.0))
        members.append(Member(path, similarity, new))
    return Group(kind, members)


def _normalized_classes(by_row: dict[int, _Unit], pairs: Pairs) -> list[list[int]]:
    """Contents that are the same text once normalized, as lists of rows.

    Hashing every text would mean decompressing and decoding the whole archive (about a minute
    per million briefs, and it grows with their size), so only contents in a pair at or above
    NORMALIZED_GATE are decoded: changes of whitespace and case leave the bundled model's
    tokens as they were, so such copies always land there. A cased model could put an
    all-capitals copy below the gate; it is then a `near` duplicate (or none), never a
    wrong `normalized` one."""
    close = pairs.at_least(NORMALIZED_GATE)
    if not len(close):
        return []
    candidates = sorted(set(close.i.tolist()) | set(close.j.tolist()))
    keys = {r: text_key(by_row[r].text()) for r in candidates}
    # equal keys are only grouped when the vectors also link them (no accidental merges
    # across the archive): components over the close pairs whose texts match
    same = [(a, b) for a, b in zip(close.i.tolist(), close.j.tolist(), strict=True)
            if keys[a] == keys[b]]
    if not same:
        return []
    local = {r: k for k, r in enumerate(candidates)}
    labels = components(len(candidates), np.array([local[a] for a, _ in same], np.int64),
                        np.array([local[b] for _, b in same], np.int64))
    classes: dict[int, list[int]] = {}
    for r, label in zip(candidates, labels.tolist(), strict=True):
        classes.setdefault(label, []).append(r)
    return [rows for rows in classes.values() if len(rows) > 1]


def _age(record: BriefRecord) -> tuple[int, str, str]:
    return (0, record.added_at, record.path)


def _given_text(text: str) -> Callable[[], str]:
    return lambda: text


def _archived_text(archive: Archive, content_id: int) -> Callable[[], str]:
    return lambda: archive.text(content_id)


def prune(archive: Archive, report: DedupeReport) -> list[BriefRecord]:
    """Remove every archived brief but the first (oldest) of each group; returns what went.
    Each path is removed by itself: a path that `rm` would read as a folder, glob or sha256
    prefix matching other briefs too is refused rather than guessed at."""
    doomed = sorted(set(report.redundant))
    if not doomed:
        return []
    from .store import selecting_others

    ambiguous = selecting_others(doomed, archive.records())
    if ambiguous:
        raise UsageError(f"cannot prune {ambiguous[0]!r} by itself (its name also selects "
                         "other briefs); remove it with `briefmin rm`")
    return archive.rm(doomed)
