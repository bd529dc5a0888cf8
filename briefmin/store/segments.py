"""Vector segments: the one place that knows their layout. It encodes rows into segments,
appends and merges them, loads their columns for a search and reads single rescoring codes.

A segment holds n rows in column blobs: content_ids int64[n], kinds uint8[n], spans
int32[n, 2] (chunk character offsets), bits uint8[n, dim/8 padded to 8] (binary codes) and
int8 (rescoring codes, `RescoreCodes.row_bytes(dim)` bytes a row). Blobs are row-major, so
merging segments is joining their blobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..quantize import Floats, Int8Scale, RescoreCodes, binary_codes
from . import rows, schema
from .connection import Connection

# segments.kinds: what a vector row stands for
KIND_BRIEF_AND_CHUNK = 0  # a brief that fits in one chunk: its only vector
KIND_CHUNK = 1  # one chunk of a longer brief
KIND_BRIEF = 2  # a longer brief as a whole (normalized mean of its chunks)
SEARCH_KINDS = (KIND_BRIEF_AND_CHUNK, KIND_CHUNK)
BRIEF_KINDS = (KIND_BRIEF_AND_CHUNK, KIND_BRIEF)

# merged SEGMENT_FANOUT at a time up to MAX_SEGMENT_ROWS rows (~115 MB of codes), so a search
# reads a few large blobs however the archive was built up
SEGMENT_FANOUT = 8
MAX_SEGMENT_ROWS = 1 << 18

_COLUMNS = "content_ids, kinds, spans, bits, int8"


class BriefVectors(Protocol):
    """What the encoder gives for one brief (`encoder.EncodedBrief`)."""

    spans: list[tuple[int, int]]
    chunk_vectors: Floats
    brief_vector: Floats


def vector_count(vectors: BriefVectors) -> int:
    """Rows a brief owns: its only chunk, or its chunks and itself as a whole."""
    return 1 if len(vectors.spans) == 1 else len(vectors.spans) + 1


def bits_width(dim: int) -> int:
    """Bytes a row of binary codes takes (dim bits, padded to whole 64-bit words)."""
    return (dim // 8 + 7) // 8 * 8


@dataclass
class Rows:
    """Vector rows to append, one entry per row."""

    content_ids: list[int]
    kinds: list[int]
    spans: list[tuple[int, int]]
    vectors: list[Floats]

    @classmethod
    def of(cls, briefs: Iterable[tuple[int, BriefVectors]]) -> Rows:
        rows = cls([], [], [], [])
        for content_id, vectors in briefs:
            if len(vectors.spans) == 1:
                rows.add(content_id, KIND_BRIEF_AND_CHUNK, vectors.spans[0],
                         vectors.brief_vector)
                continue
            for span, chunk in zip(vectors.spans, vectors.chunk_vectors, strict=True):
                rows.add(content_id, KIND_CHUNK, span, chunk)
            rows.add(content_id, KIND_BRIEF, (vectors.spans[0][0], vectors.spans[-1][1]),
                     vectors.brief_vector)
        return rows

    def add(self, content_id: int, kind: int, span: tuple[int, int], vector: Floats) -> None:
        self.content_ids.append(content_id)
        self.kinds.append(kind)
        self.spans.append(span)
        self.vectors.append(vector)


def append(db: Connection, new: Rows, chunk_tokens: int, chunk_overlap: int) -> None:
    """Write rows as a new segment, calibrating the rescoring codes on the archive's first
    vectors, then merge segments. The caller holds a write transaction."""
    if not new.vectors:
        return
    matrix: Floats = np.vstack(new.vectors).astype(np.float32)
    meta = schema.read_meta(db)
    if not meta.int8_step:
        scale = meta.codes.calibrate(matrix)
        schema.write_meta(db, {"dim": int(matrix.shape[1]), "int8_step": scale.step,
                               "chunk_tokens": chunk_tokens, "chunk_overlap": chunk_overlap})
    else:
        scale = meta.codes.scale(meta.int8_step)
    rows.put(db, "vec_segments", (
        rows.next_id(db, "vec_segments"), len(matrix),
        np.asarray(new.content_ids, np.int64).tobytes(), np.asarray(new.kinds, np.uint8).tobytes(),
        np.asarray(new.spans, np.int32).tobytes(), binary_codes(matrix).tobytes(),
        meta.codes.pack(scale.encode(matrix))))
    merge(db)


def _tier(rows: int) -> int:
    """0 for add-sized segments (< 512 rows), then one tier per SEGMENT_FANOUT-fold size."""
    tier = 0
    while rows >= 512 * SEGMENT_FANOUT ** tier:
        tier += 1
    return tier


def merge(db: Connection) -> None:
    """Size-tiered merging, as in LSM trees: whenever SEGMENT_FANOUT segments of one size tier
    exist, they become one. Each add writes a small segment, and a million briefs added 64 at
    a time would otherwise leave 16k segments, each a row read and a few numpy calls per
    search; merged, a search loads a million codes in a handful of reads, and every vector is
    rewritten only log8(n / 64) times."""
    while True:
        tiers: dict[int, list[int]] = {}
        for seg_id, n in db.query("SELECT id, n FROM vec_segments ORDER BY id"):
            if n < MAX_SEGMENT_ROWS // SEGMENT_FANOUT:  # the merge stays within MAX_SEGMENT_ROWS
                tiers.setdefault(_tier(int(n)), []).append(int(seg_id))
        full = next((ids for ids in tiers.values() if len(ids) >= SEGMENT_FANOUT), None)
        if full is None:
            return
        group = full[:SEGMENT_FANOUT]
        marks = ",".join("?" * len(group))
        parts = db.query(f"SELECT n, {_COLUMNS} FROM vec_segments WHERE id IN ({marks}) "
                         "ORDER BY id", group)
        merged_id = rows.next_id(db, "vec_segments")
        db.execute(f"DELETE FROM vec_segments WHERE id IN ({marks})", group)
        rows.put(db, "vec_segments", (
            merged_id, sum(int(p[0]) for p in parts),
            *(b"".join(bytes(p[col]) for p in parts) for col in range(1, 6))))


def remove_contents(db: Connection, meta: schema.Meta, gone: set[int]) -> None:
    """Drop the rows of these contents from every segment. The caller holds a write
    transaction."""
    row_bytes = meta.codes.row_bytes(meta.dim)
    for seg_id, n, ids, kinds, spans, bits, int8 in db.query(
            f"SELECT id, n, {_COLUMNS} FROM vec_segments"):
        cids = np.frombuffer(ids, np.int64)
        keep = ~np.isin(cids, list(gone))
        if keep.all():
            continue
        if not keep.any():
            db.execute("DELETE FROM vec_segments WHERE id = ?", (seg_id,))
            continue
        width = len(bits) // n
        rows.put(db, "vec_segments", (
            seg_id, int(keep.sum()), cids[keep].tobytes(),
            np.frombuffer(kinds, np.uint8)[keep].tobytes(),
            np.frombuffer(spans, np.int32).reshape(n, 2)[keep].tobytes(),
            np.frombuffer(bits, np.uint8).reshape(n, width)[keep].tobytes(),
            np.frombuffer(int8, np.uint8).reshape(n, row_bytes)[keep].tobytes()))


class CodeReader:
    """Reads single rows of rescoring codes from their segments, on demand. Knows where each
    loaded row lies: `starts[k]` is the first loaded row of segment `segment_ids[k]`, and
    `picked[k]` its rows in the segment when not all of them were loaded."""

    def __init__(self, db: Connection, codes: RescoreCodes, dim: int,
                 segment_ids: list[int], starts: list[int],
                 picked: list[npt.NDArray[np.int64] | None]) -> None:
        self.db, self.codes, self.dim = db, codes, dim
        self.segment_ids = np.asarray(segment_ids, np.int64)
        self.starts = np.asarray(starts, np.int64)
        self.picked = picked

    def locations(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """(segment id, row in segment) of loaded rows."""
        segment = np.searchsorted(self.starts, rows, side="right") - 1
        within = rows - self.starts[segment]
        # sets, not np.unique: its plain form imports numpy.ma (~35 ms of a cold search)
        for k in sorted(set(segment.tolist())):
            if self.picked[k] is not None:
                here = segment == k
                within[here] = self.picked[k][within[here]]
        return np.column_stack([self.segment_ids[segment], within])

    def __call__(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
        row_bytes = self.codes.row_bytes(self.dim)
        out = np.empty((len(rows), self.dim), np.int8)
        where = self.locations(rows)
        # one blob handle per segment, rows in storage order (see Connection.read_blob_parts)
        for seg_id in sorted(set(where[:, 0].tolist())):
            mine = np.flatnonzero(where[:, 0] == seg_id)
            mine = mine[np.argsort(where[mine, 1], kind="stable")]
            parts = self.db.read_blob_parts("vec_segments", "int8", int(seg_id),
                                            (where[mine, 1] * row_bytes).tolist(), row_bytes)
            out[mine] = self.codes.unpack(b"".join(parts), len(mine), self.dim)
        return out


@dataclass
class StoredVectors:
    """Every vector row of the archive (or of the kinds asked for), column by column."""

    content_ids: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.uint8]
    spans: npt.NDArray[np.int32]  # (n, 2) chunk character offsets
    bits: npt.NDArray[np.uint8]  # (n, dim/8 padded to 8) binary codes
    int8_step: float
    dim: int
    reader: CodeReader  # where each row lies, for int8 reads
    rescore_bits: int = 8

    @property
    def scale(self) -> Int8Scale:
        """How the rescoring codes map back to floats (the step and the code range)."""
        return RescoreCodes(self.rescore_bits).scale(self.int8_step)

    def __len__(self) -> int:
        return len(self.content_ids)

    def int8(self, rows: npt.NDArray[np.int64] | Sequence[int]) -> npt.NDArray[np.int8]:
        """The int8 rescoring codes of these rows, read from disk on demand."""
        return self.reader(np.asarray(rows, dtype=np.int64))


def _kind_mask(kinds: Sequence[int]) -> npt.NDArray[np.bool_]:
    """A lookup table: wanted[kind] (faster than np.isin over a million rows)."""
    wanted = np.zeros(256, np.bool_)
    wanted[list(kinds)] = True
    return wanted


def load(db: Connection, meta: schema.Meta, kinds: Sequence[int]) -> StoredVectors:
    """All vector rows of the given kinds, in a few large reads (one per segment). Rescoring
    codes stay on disk until `StoredVectors.int8(rows)` asks for some; where each row lies is
    kept per segment, not per row (16 MB less to build for a million rows)."""
    width = bits_width(meta.dim)
    wanted = _kind_mask(kinds)
    parts: dict[str, list[Any]] = {k: [] for k in ("ids", "kinds", "spans", "bits")}
    segment_ids: list[int] = []
    starts = [0]
    picked: list[npt.NDArray[np.int64] | None] = []
    for seg_id, n, ids, kind_blob, spans, bits in db.query(
            "SELECT id, n, content_ids, kinds, spans, bits FROM vec_segments ORDER BY id"):
        kind = np.frombuffer(kind_blob, np.uint8)
        mask = wanted[kind]
        # a slice keeps views: most segments hold only wanted kinds, and a mask copies
        everything = bool(mask.all())
        keep: Any = slice(None) if everything else mask
        parts["ids"].append(np.frombuffer(ids, np.int64)[keep])
        parts["kinds"].append(kind[keep])
        parts["spans"].append(np.frombuffer(spans, np.int32).reshape(n, 2)[keep])
        parts["bits"].append(np.frombuffer(bits, np.uint8).reshape(n, width)[keep])
        segment_ids.append(int(seg_id))
        picked.append(None if everything else np.flatnonzero(mask))
        starts.append(starts[-1] + len(parts["ids"][-1]))

    def cat(key: str, dtype: Any, shape: tuple[int, ...]) -> Any:
        return np.concatenate(parts[key]) if parts[key] else np.zeros(shape, dtype)

    return StoredVectors(
        content_ids=cat("ids", np.int64, (0,)), kinds=cat("kinds", np.uint8, (0,)),
        spans=cat("spans", np.int32, (0, 2)), bits=cat("bits", np.uint8, (0, width)),
        int8_step=meta.int8_step, dim=meta.dim,
        reader=CodeReader(db, meta.codes, meta.dim, segment_ids, starts, picked),
        rescore_bits=meta.rescore_bits)


def all_codes(db: Connection, meta: schema.Meta, kinds: Sequence[int]) -> npt.NDArray[np.int8]:
    """Every rescoring code of the given kinds, in segment order (as `load(kinds)`)."""
    dim, chunks, wanted = meta.dim, [], _kind_mask(kinds)
    for kind_blob, n, int8 in db.query("SELECT kinds, n, int8 FROM vec_segments ORDER BY id"):
        keep = wanted[np.frombuffer(kind_blob, np.uint8)]
        chunks.append(meta.codes.unpack(int8, n, dim)[keep])
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.int8)


def count_rows(db: Connection, meta: schema.Meta) -> tuple[dict[int, int], list[str]]:
    """Vector rows per content id, and the segments whose columns are unusable."""
    dim, row_bytes = meta.dim, meta.codes.row_bytes(meta.dim)
    width = bits_width(dim)
    found: dict[int, int] = {}
    problems = []
    for seg_id, n, *columns in db.query(f"SELECT id, n, {_COLUMNS} FROM vec_segments"):
        if not isinstance(n, int) or not all(isinstance(c, bytes) for c in columns):
            problems.append(f"vector block {seg_id} holds values of the wrong type")
            continue
        ids, kinds, spans, bits, int8 = columns
        sizes = (len(ids), len(kinds), len(spans), len(bits), len(int8))
        if sizes != (8 * n, n, 8 * n, width * n, row_bytes * n):
            problems.append(f"vector block {seg_id} has inconsistent sizes")
            continue
        for cid, count in zip(*np.unique(np.frombuffer(ids, np.int64), return_counts=True),
                              strict=True):
            found[int(cid)] = found.get(int(cid), 0) + int(count)
    return found, problems


def totals(db: Connection) -> tuple[int, int]:
    """(vector rows, bytes of their columns)."""
    (rows, size), = db.query(
        "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(LENGTH(content_ids) + LENGTH(kinds) + "
        "LENGTH(spans) + LENGTH(bits) + LENGTH(int8)), 0) FROM vec_segments")
    return int(rows), int(size)
