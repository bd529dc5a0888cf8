"""Duplicate briefs: `exact` (same bytes), `normalized` (same text once whitespace, line endings
and case are normalized) and `near` (cosine of brief vectors ≥ a threshold), as groups whose
members are each at least the threshold from the group's first (oldest) member (no chaining:
see `grouping`). This module orchestrates: it reads the archive, finds pairs (`nearpairs`),
groups them (`grouping`) and prunes. Only `find_duplicates` with new paths loads a model."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import UsageError
from .grouping import assign
from .nearpairs import Pairs, all_pairs, decoded, near_pairs, query_pairs
from .quantize import Floats, Int8Codes

if TYPE_CHECKING:
    from .archive import Archive, BriefRecord
    from .sources import Skipped, Source

Ints = npt.NDArray[np.int64]

# Chosen from data (README, "How the default threshold was chosen"): with the bundled model
# the fixture near-copy scores 0.99, the paraphrase 0.93 and two versions of one brief 0.89,
# while unrelated briefs stay below 0.6; see bench/bench_dedupe.py for real-data figures.
DEFAULT_THRESHOLD = 0.85
# Normalizing whitespace, line endings and case leaves the bundled (uncased) model's tokens
# unchanged, so such copies have practically identical vectors; only units this close are
# decoded and hashed for the `normalized` kind (see `_normalized_classes`).
NORMALIZED_GATE = 0.98
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
                    progress: Callable[[str], None] | None = None) -> DedupeReport:
    """Duplicate groups among the archive's briefs (latest versions), or, given `sources`,
    groups that involve them: the new briefs against the archive and each other, without
    adding them. A new brief named like an archived one is its next version, not its
    duplicate: the archived one is left out of the comparison."""
    from .archive import BRIEF_KINDS
    from .codec import sha256
    from .sources import Skipped, decode_text, is_binary

    check_threshold(threshold)
    say = progress or (lambda _: None)
    by_content = archive.paths_by_content()
    new_sources: list[tuple[str, bytes]] = []
    skipped: list[Skipped] = []
    for source in sources or ():
        if isinstance(source, Skipped):
            skipped.append(source)
            continue
        data = source.read_or_skip()
        if isinstance(data, Skipped):
            skipped.append(data)
        elif not data:
            skipped.append(Skipped(source.name, "empty"))
        elif is_binary(data):
            skipped.append(Skipped(source.name, "binary, not text"))
        else:
            new_sources.append((source.name, data))
    path_mode = sources is not None
    replaced = {name for name, _ in new_sources}

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
    for order, (name, data) in enumerate(new_sources):
        digest = sha256(data)
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
        from .encoder import encode_briefs

        say(f"encoding {len(new_texts)} new brief(s)")
        encoded = encode_briefs(archive.encoder(), new_texts)
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
                          new=[name for name, _ in new_sources], skipped=skipped)
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
    content), near groups (one representative per normalized class), each pair of briefs in
    its strongest kind only. Near groups do not chain (`grouping.assign`): every member is at
    least the threshold from the group's first member, and pruning all but the first member
    of every group leaves the first of each."""
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
    hidden = set()  # rows that take part in `near` through their class's oldest content
    for rows in classes:
        if len(rows) > 1:
            group = _members_group("normalized", [by_row[r] for r in rows], vector)
            groups.append(group)
            oldest = min((by_row[r] for r in rows), key=lambda u: u.paths[0])
            hidden |= {r for r in rows if r != oldest.row}
    rank = _ranks(by_row)
    strong = pairs.at_least(threshold)
    if hidden and len(strong):
        shown = np.array([a not in hidden and b not in hidden for a, b in
                          zip(strong.i.tolist(), strong.j.tolist(), strict=True)], dtype=bool)
        strong = Pairs(strong.i[shown], strong.j[shown], strong.similarity[shown])
    stars = assign(rank, strong.i, strong.j, strong.similarity, threshold)
    for rep, members in stars.groups().items():
        groups.append(Group("near", [_member(by_row[rep], 1.0)]
                            + [_member(by_row[m], s) for m, s in members]))
    groups.sort(key=lambda g: (KIND_RANK[g.kind], g.members[0].path))
    return groups


def _ranks(by_row: dict[int, _Unit]) -> Ints:
    """Each row's age rank (0 = oldest first path); rows of no unit rank last."""
    rows = sorted(by_row, key=lambda r: by_row[r].paths[0])
    rank = np.full(max(by_row, default=-1) + 1, len(rows), np.int64)
    rank[np.array(rows, np.int64)] = np.arange(len(rows), dtype=np.int64)
    return rank


def _member(unit: _Unit, similarity: float) -> Member:
    _, path, new = unit.paths[0]
    return Member(path, similarity, new)


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
    everything = {r.path for r in archive.records()}
    folders = {p[:k + 1] for p in everything for k, ch in enumerate(p) if ch == "/"}
    for path in doomed:
        if _ambiguous(path, everything, folders):
            raise UsageError(f"cannot prune {path!r} by itself (its name also selects other "
                             "briefs); remove it with `briefmin rm`")
    return archive.rm(doomed)


def _ambiguous(path: str, everything: set[str], folders: set[str]) -> bool:
    import fnmatch
    import re

    if path.rstrip("/") + "/" in folders:
        return True
    if any(ch in path for ch in "*?[") and any(
            p != path and fnmatch.fnmatchcase(p, path) for p in everything):
        return True
    return bool(re.fullmatch(r"[0-9a-f]{4,64}", path))
