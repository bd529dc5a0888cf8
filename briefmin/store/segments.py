"""Vector segments: the one place that knows their layout. It encodes rows into segments,
appends and merges them, loads their columns for a search and reads single rescoring codes.

A segment holds n rows in column blobs: content_ids int64[n], kinds uint8[n], spans
int32[n, 2] (chunk character offsets), bits uint8[n, dim/8 padded to 8] (binary codes) and
int8 (rescoring codes, `RescoreCodes.row_bytes(dim)` bytes a row). Blobs are row-major, so
merging segments is joining their blobs.

Tiers (`briefmin tier`): a segment's rescoring codes are those of the archive's profile unless
table vec_codes gives it fewer bits per dimension: 4 (the small profile's 4-bit codes) or 0
(an empty int8 blob: its rows keep only their binary codes, and a `BinaryDecoder` fitted when
rows were first tiered estimates their vectors). Only segments of one tier are merged. Readers
get every row as an int8 array in the archive's own scale whatever its tier, and
`StoredVectors.lengths` gives the length to divide each row by to read a cosine."""

from __future__ import annotations

import functools
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from ..errors import IntegrityError
from . import rows, schema
from .connection import Connection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..quantize import BinaryDecoder, Floats, Int8Scale

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
# meta key of the BinaryDecoder binary-tier rows are read with
DECODER_KEY = "binary_decoder"
# rows sampled to fit the decoder: a few seconds at most, and the means settle long before
DECODER_SAMPLE = 100_000


class BriefVectors(Protocol):
    """What the encoder gives for one brief (`encoder.EncodedBrief`)."""

    spans: list[tuple[int, int]]
    chunk_vectors: Floats
    brief_vector: Floats


def vector_count(vectors: BriefVectors) -> int:
    """Rows a brief owns: its only chunk, or its chunks and itself as a whole; none for a
    zero-byte brief (no chunk: nothing to mean)."""
    if not vectors.spans:
        return 0
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
            if not vectors.spans:  # a zero-byte brief owns no rows
                continue
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


def append(db: Connection, new: Rows, chunk_tokens: int, chunk_overlap: int,
           bits: int | None = None) -> None:
    """Write rows as a new segment, calibrating the rescoring codes on the archive's first
    vectors, then merge segments. `bits` below the profile's writes them as codes of that
    tier (merge carries tiered rows over; binary ones need the decoder adopt_decoder wrote).
    The caller holds a write transaction."""
    import numpy as np

    from ..quantize import binary_codes

    if not new.vectors:
        return
    matrix: Floats = np.vstack(new.vectors).astype(np.float32)
    meta = schema.read_meta(db)
    if not meta.int8_step:
        scale = meta.codes.calibrate(matrix)
        schema.write_meta(db, {"dim": int(matrix.shape[1]), "int8_step": scale.step,
                               "chunk_tokens": chunk_tokens, "chunk_overlap": chunk_overlap})
        meta = schema.read_meta(db)
    else:
        scale = meta.codes.scale(meta.int8_step)
    profile = meta.rescore_bits
    signs = binary_codes(matrix)
    codes = meta.codes.pack(scale.encode(matrix))
    row = (rows.next_id(db, "vec_segments"), len(matrix),
           np.asarray(new.content_ids, np.int64).tobytes(),
           np.asarray(new.kinds, np.uint8).tobytes(),
           np.asarray(new.spans, np.int32).tobytes(), signs.tobytes(), codes)
    if bits is not None and bits < profile:
        _put(db, (*row[:-1], _requantize(Readout(meta, None), codes, profile, bits, signs)),
             bits, profile)
    else:
        rows.put(db, "vec_segments", row)
    merge(db, profile)


def adopt_decoder(db: Connection, decoder: BinaryDecoder, replace: bool = False) -> None:
    """Give an archive without binary rows the decoder of binary rows about to be copied in
    (merge), so they keep the estimates and calibration they had; an archive that has its
    own decoder keeps it, unless `replace` (no row of it is binary any more). The caller
    holds a write transaction."""
    if replace or read_decoder(db) is None:
        schema.write_meta(db, {DECODER_KEY: decoder.to_json()})


def _tier(rows: int) -> int:
    """0 for add-sized segments (< 512 rows), then one tier per SEGMENT_FANOUT-fold size."""
    tier = 0
    while rows >= 512 * SEGMENT_FANOUT ** tier:
        tier += 1
    return tier


def merge(db: Connection, profile: int) -> None:
    """Size-tiered merging, as in LSM trees: whenever SEGMENT_FANOUT segments of one size tier
    exist, they become one. Each add writes a small segment, and a million briefs added 64 at
    a time would otherwise leave 16k segments, each a row read and a few numpy calls per
    search; merged, a search loads a million codes in a handful of reads, and every vector is
    rewritten only log8(n / 64) times. Only segments of one tier merge (`profile`: the bits
    of the segments vec_codes does not name)."""
    damaged: set[int] = set()  # left out of merges: rewritten, they would pass `verify`
    while True:
        coded = code_bits(db)
        tiers: dict[tuple[int, int], list[int]] = {}
        for seg_id, n in db.query("SELECT id, n FROM vec_segments ORDER BY id"):
            if seg_id in damaged:
                continue
            if n < MAX_SEGMENT_ROWS // SEGMENT_FANOUT:  # the merge stays within MAX_SEGMENT_ROWS
                bits = coded.get(int(seg_id), profile)  # codes of one kind per segment
                tiers.setdefault((bits, _tier(int(n))), []).append(int(seg_id))
        full = next(((bits, ids) for (bits, _), ids in tiers.items()
                     if len(ids) >= SEGMENT_FANOUT), None)
        if full is None:
            return
        bits, group = full[0], full[1][:SEGMENT_FANOUT]
        marks = ",".join("?" * len(group))
        parts = db.query(f"SELECT n, {_COLUMNS}, id, checksum FROM vec_segments "
                         f"WHERE id IN ({marks}) ORDER BY id", group)
        hurt = {int(p[6]) for p in parts if not _sound((p[6], *p[:6]), p[7])}
        if hurt:
            damaged.update(hurt)
            continue
        merged_id = rows.next_id(db, "vec_segments")
        for seg_id in group:
            _delete(db, seg_id)
        _put(db, (merged_id, sum(int(p[0]) for p in parts),
                  *(b"".join(bytes(p[col]) for p in parts) for col in range(1, 6))),
             bits, profile)


def _sound(values: tuple[Any, ...], checksum: int) -> bool:
    """Whether a segment's row (id first, then its columns) still matches its checksum."""
    return bool(checksum == rows.row_sum("vec_segments", values))


def _refuse_damaged(db: Connection, values: tuple[Any, ...], checksum: int) -> None:
    """A segment about to be rewritten (rows removed or re-encoded) must pass its checksum:
    rewritten, its codes would get a fresh one and `verify` would vouch for them."""
    if not _sound(values, checksum):
        raise IntegrityError(f"{db.path}: vector segment {values[0]} is damaged (checksum); "
                             "rewriting it would hide the damage, so nothing was changed; "
                             f"run `briefmin verify {db.path}`")


def code_bits(db: Connection, problems: list[str] | None = None) -> dict[int, int]:
    """Bits per dimension of the segments whose codes are not of the profile (vec_codes);
    none in an archive of an older format read as it is. A row that holds no numbers is
    damage: it raises, or with `problems` (verify) is said there and left out."""
    if db.version < schema.TIERED:
        return {}
    found = db.query("SELECT segment, bits FROM vec_codes")
    sound = {s: b for s, b in found if isinstance(s, int) and isinstance(b, int)}
    if len(sound) < len(found):
        if problems is None:  # read at the profile's width, its codes would be wrong vectors
            raise IntegrityError(f"{db.path}: the table of segments' code widths is damaged; "
                                 f"run `briefmin verify {db.path}`")
        problems.append("vector code tier entries hold values of the wrong type")
    return sound


def _put(db: Connection, row: tuple[Any, ...], bits: int, profile: int) -> None:
    """Store a segment (all its columns) holding codes of `bits` bits per dimension."""
    rows.put(db, "vec_segments", row)
    if bits == profile:
        db.execute("DELETE FROM vec_codes WHERE segment = ?", (row[0],))
    else:
        rows.put(db, "vec_codes", (row[0], bits))


def _delete(db: Connection, seg_id: int) -> None:
    db.execute("DELETE FROM vec_segments WHERE id = ?", (seg_id,))
    db.execute("DELETE FROM vec_codes WHERE segment = ?", (seg_id,))


def _row_bytes(bits: int, dim: int) -> int:
    # RescoreCodes(bits).row_bytes(dim), spelt out so `verify` need not import numpy (a test
    # checks the two agree)
    return dim * bits // 8


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reads_segments(read: Callable[_P, _R]) -> Callable[_P, _R]:
    """A reader of segment blobs: a cell of another type or length than its segment says
    (a flipped bit; the row's checksum names it) is a damaged archive (exit 3), not a bug
    (numpy's TypeError or ValueError, exit 70)."""
    @functools.wraps(read)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return read(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            db = args[0] if args and isinstance(args[0], Connection) else None
            where = f"{db.path}: " if db is not None else ""
            raise IntegrityError(f"{where}a vector segment cannot be read ({exc}); run "
                                 "`briefmin verify`") from exc
    return checked


@_reads_segments
def remove_contents(db: Connection, meta: schema.Meta, gone: set[int]) -> None:
    """Drop the rows of these contents from every segment. The caller holds a write
    transaction."""
    import numpy as np

    coded = code_bits(db)
    for seg_id, n, ids, kinds, spans, bits, int8, checksum in db.query(
            f"SELECT id, n, {_COLUMNS}, checksum FROM vec_segments"):
        cids = np.frombuffer(ids, np.int64)
        keep = ~np.isin(cids, list(gone))
        if keep.all():
            continue
        if not keep.any():
            _delete(db, seg_id)
            continue
        _refuse_damaged(db, (seg_id, n, ids, kinds, spans, bits, int8), checksum)
        tier = coded.get(int(seg_id), meta.rescore_bits)
        rows.put(db, "vec_segments", (seg_id, int(keep.sum()), *_subset(
            n, (ids, kinds, spans, bits, int8), keep, _row_bytes(tier, meta.dim))))


def contents_in(db: Connection, segment_ids: Set[int], contents: Set[int]) -> set[int]:
    """Which of these contents have rows in these segments."""
    import numpy as np

    wanted = np.fromiter(sorted(contents), np.int64)
    found: set[int] = set()
    segment_list = sorted(segment_ids)
    for start in range(0, len(segment_list), 500):  # only their rows are read
        part = segment_list[start:start + 500]
        for ids, in db.query(f"SELECT content_ids FROM vec_segments WHERE id IN "
                             f"({','.join('?' * len(part))})", part):
            cids = np.frombuffer(ids, np.int64)
            found.update(cids[np.isin(cids, wanted)].tolist())
    return found


def _subset(n: int, columns: Sequence[bytes], keep: npt.NDArray[np.bool_], row_bytes: int
            ) -> tuple[bytes, ...]:
    """The column blobs of a segment's rows where `keep` is true."""
    import numpy as np

    ids, kinds, spans, bits, int8 = columns
    width = len(bits) // n
    return (np.frombuffer(ids, np.int64)[keep].tobytes(),
            np.frombuffer(kinds, np.uint8)[keep].tobytes(),
            np.frombuffer(spans, np.int32).reshape(n, 2)[keep].tobytes(),
            np.frombuffer(bits, np.uint8).reshape(n, width)[keep].tobytes(),
            np.frombuffer(int8, np.uint8).reshape(n, row_bytes)[keep].tobytes()
            if row_bytes else b"")


@dataclass(frozen=True)
class Readout:
    """Turns the stored codes of any tier into int8 codes of the archive's own scale, so
    search and dedupe read one kind of array."""

    meta: schema.Meta
    decoder: BinaryDecoder | None

    @property
    def scale(self) -> Int8Scale:
        return self.meta.codes.scale(self.meta.int8_step)

    def codes(self, blob: bytes, n: int, bits: int, signs: npt.NDArray[np.uint8]
              ) -> npt.NDArray[np.int8]:
        """n rows of `bits`-bit codes (`signs`: their packed binary codes) as int8 codes."""
        import numpy as np

        from ..quantize import RescoreCodes

        dim = self.meta.dim
        if bits == self.meta.rescore_bits:
            return self.meta.codes.unpack(blob, n, dim)
        if bits == 0:
            if self.decoder is None:  # damage (verify says so): no estimate at all
                return np.zeros((n, dim), np.int8)
            return self.scale.encode(self.decoder.estimate(signs))
        four = RescoreCodes(bits)
        return self.scale.encode(four.fixed_scale(dim).decode(four.unpack(blob, n, dim)))


def read_decoder(db: Connection) -> BinaryDecoder | None:
    """The decoder of binary-tier rows, once some rows were tiered to binary."""
    from ..quantize import BinaryDecoder

    row = db.one("SELECT value FROM meta WHERE key = ?", (DECODER_KEY,))
    if row is None:
        return None
    try:
        return BinaryDecoder.from_json(json.loads(row[0]))
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{db.path}: the binary codes' decoder is damaged ({exc}); run "
                             "`briefmin verify`") from exc


class CodeReader:
    """Reads single rows of rescoring codes from their segments, on demand. Knows where each
    loaded row lies: `starts[k]` is the first loaded row of segment `segment_ids[k]`, whose
    codes have `segment_bits[k]` bits per dimension, and `picked[k]` its rows in the segment
    when not all of them were loaded."""

    def __init__(self, db: Connection, readout: Readout, segment_ids: list[int],
                 segment_bits: list[int], starts: list[int],
                 picked: list[npt.NDArray[np.int64] | None]) -> None:
        import numpy as np

        self.db, self.readout, self.dim = db, readout, readout.meta.dim
        self.segment_ids = np.asarray(segment_ids, np.int64)
        self.segment_bits = segment_bits
        self.starts = np.asarray(starts, np.int64)
        self.picked = picked

    def _segments(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        import numpy as np

        out: npt.NDArray[np.int64] = np.searchsorted(self.starts, rows, side="right") - 1
        return out

    def locations(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """(segment id, row in segment) of loaded rows."""
        import numpy as np

        segment = self._segments(rows)
        within = rows - self.starts[segment]
        # sets, not np.unique: its plain form imports numpy.ma (~35 ms of a cold search)
        for k in sorted(set(segment.tolist())):
            if self.picked[k] is not None:
                here = segment == k
                within[here] = self.picked[k][within[here]]
        return np.column_stack([self.segment_ids[segment], within])

    @_reads_segments
    def __call__(self, rows: npt.NDArray[np.int64], signs: npt.NDArray[np.uint8]
                 ) -> npt.NDArray[np.int8]:
        """The int8 codes of loaded rows (`signs`: their binary codes, for binary rows)."""
        import numpy as np

        out = np.empty((len(rows), self.dim), np.int8)
        segment, places = self._segments(rows), self.locations(rows)
        # one blob handle per segment, rows in storage order (see Connection.read_blob_parts);
        # a set, not np.unique (its plain form imports numpy.ma, ~35 ms of a cold search)
        for k in sorted(set(segment.tolist())):
            mine = np.flatnonzero(segment == k)
            mine = mine[np.argsort(places[mine, 1], kind="stable")]
            bits = self.segment_bits[k]
            size = _row_bytes(bits, self.dim)
            blob = b"".join(self.db.read_blob_parts(
                "vec_segments", "int8", int(places[mine[0], 0]),
                (places[mine, 1] * size).tolist(), size)) if size else b""
            out[mine] = self.readout.codes(blob, len(mine), bits, signs[mine])
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
    tiers: npt.NDArray[np.uint8] | None = None  # bits per dimension of each row's codes
    decoder: BinaryDecoder | None = None  # of binary-tier rows
    # rows of the kinds read that the contents' vector counts call for but no segment holds:
    # damage (a segment lost), counted in the same read (Archive.vectors)
    missing: int = 0

    @property
    def scale(self) -> Int8Scale:
        """How the rescoring codes map back to floats (the step and the code range)."""
        from ..quantize import RescoreCodes

        return RescoreCodes(self.rescore_bits).scale(self.int8_step)

    def __len__(self) -> int:
        return len(self.content_ids)

    def int8(self, rows: npt.NDArray[np.int64] | Sequence[int]) -> npt.NDArray[np.int8]:
        """The int8 rescoring codes of these rows, read from disk on demand."""
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64)
        return self.reader(rows, self.bits[rows])

    def lengths(self, codes: npt.NDArray[np.int8],
                rows: npt.NDArray[np.int64] | None = None) -> Floats:
        """What to divide each row's code by (in code units) to read cosines (`tier_lengths`
        of the rows' tiers)."""
        if self.tiers is None:
            return self.scale.lengths(codes)
        return tier_lengths(self.scale, codes, self.tiers if rows is None else self.tiers[rows],
                            self.rescore_bits, self.int8_step)

    def pair_cosines(self, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64],
                     raw: Floats) -> Floats:
        """Cosines of row pairs (i[k], j[k]) whose codes, divided by `lengths`, gave `raw`.
        Unchanged unless both rows are binary-tier: the product of two calibrated estimates
        reads far too high, so theirs comes from their sign bits
        (`BinaryDecoder.sign_cosines`)."""
        import numpy as np

        if self.tiers is None or self.decoder is None:
            return raw
        both = (self.tiers[i] == 0) & (self.tiers[j] == 0)
        if not both.any():
            return raw
        out = np.array(raw, np.float32)
        out[both] = self.decoder.sign_cosines(self.bits[i[both]], self.bits[j[both]])
        return out

    def scores(self, query: Floats, rows: npt.NDArray[np.int64],
               codes: npt.NDArray[np.int8]) -> Floats:
        """Cosine estimates between a unit query and these rows (`codes`: their int8)."""
        import numpy as np

        approx: Floats = codes.astype(np.float32) @ np.asarray(query, np.float32)
        return approx / self.lengths(codes, rows)


def _kind_mask(kinds: Sequence[int]) -> npt.NDArray[np.bool_]:
    """A lookup table: wanted[kind] (faster than np.isin over a million rows)."""
    import numpy as np

    wanted = np.zeros(256, np.bool_)
    wanted[list(kinds)] = True
    return wanted


@_reads_segments
def load(db: Connection, meta: schema.Meta, kinds: Sequence[int]) -> StoredVectors:
    """All vector rows of the given kinds, in a few large reads (one per segment). Rescoring
    codes stay on disk until `StoredVectors.int8(rows)` asks for some; where each row lies is
    kept per segment, not per row (16 MB less to build for a million rows)."""
    import numpy as np

    width = bits_width(meta.dim)
    wanted = _kind_mask(kinds)
    coded = code_bits(db)
    parts: dict[str, list[Any]] = {k: [] for k in ("ids", "kinds", "spans", "bits", "tiers")}
    segment_ids: list[int] = []
    segment_bits: list[int] = []
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
        segment_bits.append(coded.get(int(seg_id), meta.rescore_bits))
        parts["tiers"].append(np.full(len(parts["ids"][-1]), segment_bits[-1], np.uint8))
        picked.append(None if everything else np.flatnonzero(mask))
        starts.append(starts[-1] + len(parts["ids"][-1]))

    def cat(key: str, dtype: Any, shape: tuple[int, ...]) -> Any:
        return np.concatenate(parts[key]) if parts[key] else np.zeros(shape, dtype)

    decoder = read_decoder(db) if coded else None
    return StoredVectors(
        content_ids=cat("ids", np.int64, (0,)), kinds=cat("kinds", np.uint8, (0,)),
        spans=cat("spans", np.int32, (0, 2)), bits=cat("bits", np.uint8, (0, width)),
        int8_step=meta.int8_step, dim=meta.dim,
        reader=CodeReader(db, Readout(meta, decoder), segment_ids, segment_bits, starts,
                          picked),
        rescore_bits=meta.rescore_bits,
        tiers=cat("tiers", np.uint8, (0,)) if coded else None,
        decoder=decoder)


@_reads_segments
def all_codes(db: Connection, meta: schema.Meta, kinds: Sequence[int]) -> npt.NDArray[np.int8]:
    """Every rescoring code of the given kinds, in segment order (as `load(kinds)`)."""
    import numpy as np

    dim, chunks, wanted = meta.dim, [], _kind_mask(kinds)
    coded = code_bits(db)
    readout = Readout(meta, read_decoder(db) if coded else None)
    for seg_id, kind_blob, n, int8, bits in db.query(
            "SELECT id, kinds, n, int8, bits FROM vec_segments ORDER BY id"):
        keep = wanted[np.frombuffer(kind_blob, np.uint8)]
        tier = coded.get(int(seg_id), meta.rescore_bits)
        signs = np.frombuffer(bits, np.uint8).reshape(n, -1)  # a view: binary rows need them
        chunks.append(readout.codes(int8, n, tier, signs)[keep])
    return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.int8)


def tier_lengths(scale: Int8Scale, codes: npt.NDArray[np.int8], tiers: npt.NDArray[Any],
                 rescore_bits: int, int8_step: float) -> Floats:
    """What to divide each row's code by (in code units) to read cosines, given each row's
    tier (bits): as the profile's scale says for its own codes; 4-bit rows of an int8
    archive (like the small profile's, whose rounding noise makes them longer) and binary
    rows (their `BinaryDecoder.estimate` is no unit vector) the unit length."""
    out = scale.lengths(codes)
    if rescore_bits == 8:
        out[tiers != 8] = 1.0 / int8_step
    return out


@_reads_segments
def chunk_vectors(db: Connection, meta: schema.Meta, contents: Set[int]
                  ) -> dict[int, Floats]:
    """The unit chunk vectors (KIND_CHUNK rows, stored order) of these contents, from their
    rescoring codes (`chunkmatch` compares long briefs chunk by chunk); a content of one chunk
    has none. Segments holding none of them are skipped after reading their ids."""
    import numpy as np

    wanted = np.fromiter(sorted(contents), np.int64)
    coded = code_bits(db)
    readout = Readout(meta, read_decoder(db) if coded else None)
    found: dict[int, list[Floats]] = {}
    for seg_id, n, ids, kind_blob in db.query(
            "SELECT id, n, content_ids, kinds FROM vec_segments ORDER BY id"):
        cids = np.frombuffer(ids, np.int64)
        hit = (np.frombuffer(kind_blob, np.uint8) == KIND_CHUNK) & np.isin(cids, wanted)
        if not hit.any():
            continue
        int8, bits = db.one("SELECT int8, bits FROM vec_segments WHERE id = ?", (seg_id,))
        tier = coded.get(int(seg_id), meta.rescore_bits)
        signs = np.frombuffer(bits, np.uint8).reshape(n, -1)
        codes = readout.codes(int8, n, tier, signs)[hit]
        lengths = tier_lengths(readout.scale, codes, np.full(len(codes), tier, np.int64),
                               meta.rescore_bits, meta.int8_step)
        unit = codes.astype(np.float32) / lengths[:, None]
        owners = cids[hit]
        for cid in np.unique(owners).tolist():
            found.setdefault(cid, []).append(unit[owners == cid])
    return {cid: np.concatenate(parts) for cid, parts in found.items()}


# -- tiers ----------------------------------------------------------------------------------

@_reads_segments
def tier_counts(db: Connection, meta: schema.Meta, contents: Set[int], bits: int
                ) -> tuple[int, int, int, int]:
    """(contents, rows) of these contents whose codes have more than `bits` bits per
    dimension, the bytes of those rows' codes now, and once re-encoded to `bits`."""
    import numpy as np

    coded, wanted = code_bits(db), np.fromiter(sorted(contents), np.int64)
    hit_contents: set[int] = set()
    found = before = after = 0
    for seg_id, ids in db.iterate("SELECT id, content_ids FROM vec_segments"):
        tier = coded.get(int(seg_id), meta.rescore_bits)
        if tier <= bits:
            continue
        cids = np.frombuffer(ids, np.int64)
        hit = cids[np.isin(cids, wanted)]
        hit_contents.update(hit.tolist())
        found += len(hit)
        before += len(hit) * _row_bytes(tier, meta.dim)
        after += len(hit) * _row_bytes(bits, meta.dim)
    return len(hit_contents), found, before, after


def retier(db: Connection, meta: schema.Meta, contents: Set[int], bits: int) -> int:
    """Re-encode the rows of these contents to `bits` bits per dimension (4, or 0: no
    rescoring codes) from their stored codes, with no model; rows whose codes are already
    that coarse stay. A segment's re-encoded rows move to new segments of their tier (the
    rest stay where they were), then segments merge. Fitting the binary decoder the first
    time rows go binary (and its calibration, if an older briefmin wrote it without one).
    Returns the rows re-encoded. The caller holds a write transaction."""
    import numpy as np

    found = read_decoder(db) if bits == 0 else None
    if bits == 0 and (found is None or found.calibration is None):
        decoder = fit_decoder(db, meta, found)
        if decoder is not None:
            schema.write_meta(db, {DECODER_KEY: decoder.to_json()})
    coded, wanted = code_bits(db), np.fromiter(sorted(contents), np.int64)
    readout = Readout(meta, None)
    moved: list[tuple[bytes, ...]] = []
    count = pending = 0
    # the ids first: segments written meanwhile are not visited again
    for (seg_id,) in db.query("SELECT id FROM vec_segments ORDER BY id"):
        tier = coded.get(int(seg_id), meta.rescore_bits)
        if tier <= bits:
            continue
        n, *columns, checksum = db.one(f"SELECT n, {_COLUMNS}, checksum FROM vec_segments "
                                       "WHERE id = ?", (seg_id,))
        hit = np.isin(np.frombuffer(columns[0], np.int64), wanted)
        if not hit.any():
            continue
        _refuse_damaged(db, (seg_id, n, *columns), checksum)
        size = _row_bytes(tier, meta.dim)
        part = _subset(n, columns, hit, size)
        signs = np.frombuffer(part[3], np.uint8).reshape(int(hit.sum()), -1)
        moved.append((*part[:4], _requantize(readout, part[4], tier, bits, signs)))
        count, pending = count + int(hit.sum()), pending + int(hit.sum())
        if hit.all():
            _delete(db, seg_id)
        else:
            rows.put(db, "vec_segments", (seg_id, int((~hit).sum()),
                                          *_subset(n, columns, ~hit, size)))
        if pending >= MAX_SEGMENT_ROWS // SEGMENT_FANOUT:  # bounded memory
            _write_moved(db, moved, bits, meta.rescore_bits)
            moved, pending = [], 0
    _write_moved(db, moved, bits, meta.rescore_bits)
    merge(db, meta.rescore_bits)
    return count


def _requantize(readout: Readout, blob: bytes, tier: int, bits: int,
                signs: npt.NDArray[np.uint8]) -> bytes:
    """Codes of `tier` bits as codes of fewer `bits` (4: the small profile's fixed scale)."""
    from ..quantize import RescoreCodes

    if bits == 0:
        return b""
    meta = readout.meta
    floats = readout.scale.decode(readout.codes(blob, len(signs), tier, signs))
    four = RescoreCodes(bits)
    return four.pack(four.fixed_scale(meta.dim).encode(floats))


def _write_moved(db: Connection, moved: list[tuple[bytes, ...]], bits: int,
                 profile: int) -> None:
    if not moved:
        return
    ids = b"".join(m[0] for m in moved)
    _put(db, (rows.next_id(db, "vec_segments"), len(ids) // 8,
              *(b"".join(m[col] for m in moved) for col in range(5))), bits, profile)


@_reads_segments
def fit_decoder(db: Connection, meta: schema.Meta, older: BinaryDecoder | None = None
                ) -> BinaryDecoder | None:
    """Fit the binary decoder on up to DECODER_SAMPLE rows that still have rescoring codes
    (every k-th row of each segment), or None when no row has any. Given an `older` decoder
    (one written before calibrations), only its calibration is fitted: the rows it already
    estimates keep their estimates."""
    import numpy as np

    from ..quantize import BinaryDecoder

    coded, readout = code_bits(db), Readout(meta, None)
    found = db.query("SELECT id, n FROM vec_segments")
    total = sum(int(n) for seg_id, n in found if coded.get(int(seg_id), meta.rescore_bits))
    if not total:
        return None
    every = -(-total // DECODER_SAMPLE)
    vectors, signs = [], []
    for seg_id, n, int8, bits in db.iterate("SELECT id, n, int8, bits FROM vec_segments "
                                            "ORDER BY id"):
        tier = coded.get(int(seg_id), meta.rescore_bits)
        if not tier:
            continue
        packed = np.frombuffer(bits, np.uint8).reshape(n, -1)
        codes = readout.codes(int8, n, tier, packed)
        vectors.append(readout.scale.decode(codes[::every]))
        signs.append(packed[::every])
    matrix = np.concatenate(vectors)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    if older is not None:
        return older.calibrated(matrix, np.concatenate(signs))
    return BinaryDecoder.fit(matrix, np.concatenate(signs))


@_reads_segments
def tier_totals(db: Connection, meta: schema.Meta) -> dict[str, int]:
    """Vector rows by bits per dimension of their rescoring codes (for `info`)."""
    coded = code_bits(db)
    out: dict[str, int] = {}
    for seg_id, n in db.query("SELECT id, n FROM vec_segments"):
        key = str(coded.get(int(seg_id), meta.rescore_bits))
        out[key] = out.get(key, 0) + int(n)
    return out


def count_rows(db: Connection, meta: schema.Meta) -> tuple[dict[int, int], list[str]]:
    """Vector rows per content id, and the segments whose columns (or code tiers) are
    unusable."""
    dim, width = meta.dim, bits_width(meta.dim)
    found: dict[int, int] = {}
    problems: list[str] = []
    coded = code_bits(db, problems)
    allowed = {0, 4} - {meta.rescore_bits}  # a tier holds fewer bits than the profile
    segment_ids = set()
    for seg_id, n, *columns in db.query(f"SELECT id, n, {_COLUMNS} FROM vec_segments"):
        segment_ids.add(seg_id)
        if not isinstance(n, int) or not all(isinstance(c, bytes) for c in columns):
            problems.append(f"vector block {seg_id} holds values of the wrong type")
            continue
        ids, kinds, spans, bits, int8 = columns
        row_bytes = _row_bytes(coded.get(seg_id, meta.rescore_bits), dim)
        sizes = (len(ids), len(kinds), len(spans), len(bits), len(int8))
        if sizes != (8 * n, n, 8 * n, width * n, row_bytes * n):
            problems.append(f"vector block {seg_id} has inconsistent sizes")
            continue
        # array + Counter, not numpy: `verify` starts without numpy (native int64 either way)
        for cid, count in Counter(array("q", ids)).items():
            found[cid] = found.get(cid, 0) + count
    for seg_id, bits in coded.items():
        if seg_id not in segment_ids:
            problems.append(f"vector code tier entry names a missing block {seg_id}")
        elif bits not in allowed:
            problems.append(f"vector block {seg_id} has an unknown code tier ({bits} bits)")
    if 0 in coded.values():
        try:
            if read_decoder(db) is None:
                problems.append("binary-tier vector blocks exist but their decoder is missing")
        except IntegrityError as exc:
            problems.append(str(exc))
    return found, problems


def totals(db: Connection) -> tuple[int, int]:
    """(vector rows, bytes of their columns)."""
    (rows, size), = db.query(
        "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(LENGTH(content_ids) + LENGTH(kinds) + "
        "LENGTH(spans) + LENGTH(bits) + LENGTH(int8)), 0) FROM vec_segments")
    return int(rows), int(size)
