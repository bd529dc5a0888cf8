"""`Archive`: the one place that knows the archive file format.

An archive is one SQLite file (see schema.py): original bytes zstd-compressed and addressed by
sha256, one row per (path, version), and the quantized vectors in column blocks. Every change
happens in a transaction, so a killed run leaves the archive as of its last commit."""

from __future__ import annotations

import fnmatch
import itertools
import json
import os
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from . import codec, schema
from .encoder import (
    BUNDLED_MODEL,
    CHUNK_OVERLAP_TOKENS,
    EncodedBrief,
    Encoder,
    encode_briefs,
    load_encoder,
)
from .errors import (
    ArchiveError,
    BriefminError,
    InputError,
    IntegrityError,
    ModelError,
    NewerFormatError,
    UsageError,
)
from .locking import WriterLock
from .quantize import Floats, Int8Scale, RescoreCodes, binary_codes
from .safewrite import FolderWriter, safe_target
from .sources import Skipped, Source, decode_text, is_binary

SQLITE_MAGIC = b"SQLite format 3\x00"
# SQLite quotes damaged schema text in its error messages, and sqlite3 then fails to decode
# the message itself: that UnicodeDecodeError means a damaged archive just as well
SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)
BATCH_BRIEFS = 64  # briefs per transaction: what a kill can lose
BATCH_BYTES = 16 * 1024 * 1024
# Briefs are encoded ahead of their transactions, this many at a time: one encode call over
# many texts sorts all their chunks by length, so batches carry little padding (measured on
# 5,000 Debian descriptions: encoding each 64-brief transaction alone ran at 0.69x the
# model's own speed). The byte cap keeps the work a kill can waste to about a minute.
ENCODE_AHEAD_BRIEFS = 1024
ENCODE_AHEAD_BYTES = 1024 * 1024
# raw bytes per solid block: big enough to compress well (measured on the kernel docs: ~3.86x
# versus 3.66x for one frame per brief), small enough to restore one brief in ~2 ms
BLOCK_BYTES = 1024 * 1024
BLOCK_CACHE_BYTES = 8 * BLOCK_BYTES  # inflated blocks a reader keeps (and the last one)
# vector segments: merged SEGMENT_FANOUT at a time up to MAX_SEGMENT_ROWS rows (~115 MB of
# codes), so a search reads a few large blobs however the archive was built up
SEGMENT_FANOUT = 8
MAX_SEGMENT_ROWS = 1 << 18
DICT_TRAINING_BYTES = 4 * 1024 * 1024  # samples enough for a 112 KB dictionary, quick to train
# Bits per dimension of the rescoring codes, chosen when an archive is created. "small" halves
# them: vectors 449 -> 257 B a row, and in the search benchmark (20k Debian descriptions) its
# recall@10 matched int8's, but its cosines are coarser (within ~0.01 instead of ~0.001)
PROFILES = {"default": 8, "small": 4}
# raw bytes of briefs before the first dictionary is trained: a dictionary trained on more
# samples is larger and better (20k Debian descriptions, blocks of 64: trained at 64 KB, 1.017x
# `tar | zstd -19`; at 128 KB 0.944x; at 256 KB 0.923x), and waiting costs only the
# recompression of the blocks written before it
DICT_TRIGGER_BYTES = 192 * 1024

# vec_segments.kinds: what a vector row stands for
KIND_BRIEF_AND_CHUNK = 0  # a brief that fits in one chunk: its only vector
KIND_CHUNK = 1  # one chunk of a longer brief
KIND_BRIEF = 2  # a longer brief as a whole (normalized mean of its chunks)
SEARCH_KINDS = (KIND_BRIEF_AND_CHUNK, KIND_CHUNK)
BRIEF_KINDS = (KIND_BRIEF_AND_CHUNK, KIND_BRIEF)

EncoderFactory = Callable[[str], Encoder]


@dataclass(frozen=True)
class Meta:
    format_version: int
    model_id: str
    dim: int  # 0 until the first vectors are stored
    chunk_tokens: int
    chunk_overlap: int
    int8_step: float  # 0 until calibrated on the first vectors
    created_at: str
    rescore_bits: int = 8  # 4 in a small-profile archive (see PROFILES)

    @property
    def codes(self) -> RescoreCodes:
        return RescoreCodes(self.rescore_bits)

    @property
    def profile(self) -> str:
        return next(name for name, bits in PROFILES.items() if bits == self.rescore_bits)


@dataclass(frozen=True)
class BriefRecord:
    """One stored (path, version)."""

    path: str
    version: int
    versions: int  # how many versions the path has
    sha256: str
    size: int
    stored_size: int
    added_at: str
    encoding: str
    content_id: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "versions": self.versions,
                "sha256": self.sha256, "size": self.size, "stored_size": self.stored_size,
                "added_at": self.added_at, "encoding": self.encoding}


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    fallback_decoded: list[tuple[str, str]] = field(default_factory=list)  # (path, encoding)
    bytes_in: int = 0  # bytes of the briefs added or versioned by this run
    bytes_stored: int = 0  # what they cost in the archive (new contents, compressed)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "new_versions": self.new_versions,
                "unchanged": self.unchanged,
                "skipped": [{"path": s.name, "reason": s.reason} for s in self.skipped],
                "fallback_decoded": [{"path": p, "encoding": e}
                                     for p, e in self.fallback_decoded],
                "bytes_in": self.bytes_in, "bytes_stored": self.bytes_stored}


@dataclass(frozen=True)
class Problem:
    """Something `verify` found wrong; `paths` are the briefs it damages (may be empty)."""

    message: str
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "paths": list(self.paths)}


@dataclass
class VerifyReport:
    problems: list[Problem]
    checked: int  # stored items decompressed and hashed
    orphaned_items: int
    reclaimable_bytes: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked,
                "problems": [p.to_json() for p in self.problems],
                "orphaned_items": self.orphaned_items,
                "reclaimable_bytes": self.reclaimable_bytes}


@dataclass
class StoredVectors:
    """Every vector row of the archive (or of the kinds asked for), column by column."""

    content_ids: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.uint8]
    spans: npt.NDArray[np.int32]  # (n, 2) chunk character offsets
    bits: npt.NDArray[np.uint8]  # (n, dim/8 padded to 8) binary codes
    locations: npt.NDArray[np.int64]  # (n, 2) segment id and row in segment, for int8 reads
    int8_step: float
    dim: int
    _reader: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int8]]
    rescore_bits: int = 8

    @property
    def scale(self) -> Int8Scale:
        """How the rescoring codes map back to floats (the step and the code range)."""
        return RescoreCodes(self.rescore_bits).scale(self.int8_step)

    def __len__(self) -> int:
        return len(self.content_ids)

    def int8(self, rows: npt.NDArray[np.int64] | Sequence[int]) -> npt.NDArray[np.int8]:
        """The int8 rescoring codes of these rows, read from disk on demand."""
        return self._reader(self.locations[np.asarray(rows, dtype=np.int64)])


class Archive:
    """A briefmin archive. Open with `Archive.open(path)` (read-only) or
    `Archive.open(path, write=True, create=True)`; use as a context manager."""

    def __init__(self, path: str, conn: sqlite3.Connection, lock: WriterLock | None,
                 encoder_factory: EncoderFactory) -> None:
        self.path = path
        self._conn = conn
        self._lock = lock
        self._encoder_factory = encoder_factory
        self._encoder: Encoder | None = None
        # the last inflated blocks by id, up to BLOCK_CACHE_BYTES: (bytes, problem). Restoring
        # a folder walks paths in sorted order, which strays a little from the order briefs
        # were added (and blocks filled) in; with one cached block, restoring 600 kernel docs
        # inflated their 11 blocks 50 times
        self._block_cache: OrderedDict[int, tuple[bytes, str | None]] = OrderedDict()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, write: bool = False, create: bool = False,
             model: str | None = None, profile: str | None = None,
             wait: float | None = 3600.0, on_wait: Callable[[], None] | None = None,
             encoder_factory: EncoderFactory = load_encoder) -> Archive:
        """Open an archive. `create` makes a missing one, recording `model` (default: the
        bundled all-MiniLM-L6-v2) and `profile` (see PROFILES; default "default"). Writers
        take a whole-run lock, waiting up to `wait` s."""
        path = os.fspath(path)
        if profile is not None and profile not in PROFILES:
            raise UsageError(f"unknown profile {profile!r}; choose one of "
                             f"{', '.join(PROFILES)}")
        if create and not os.path.lexists(path):
            _create(path, model or BUNDLED_MODEL, profile or "default")
        _check_header(path)
        lock = WriterLock(path, wait, on_wait) if write else None
        try:
            conn = _connect(path, write, wait)
            try:
                _check_schema(conn, path, write)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if lock:
                lock.release()
            raise
        archive = cls(path, conn, lock, encoder_factory)
        try:
            if model is not None:
                archive.check_model(model)
            if profile is not None and profile != (have := archive.meta.profile):
                raise UsageError(f"{path} was made with profile {have!r}; --profile applies "
                                 "only when an archive is created")
        except BriefminError:
            archive.close()
            raise
        return archive

    def close(self) -> None:
        self._conn.close()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except SQLITE_ERRORS as exc:
            raise _archive_error(self.path, exc) from exc
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _archive_error(self.path, exc) from exc
            raise

    # -- metadata ------------------------------------------------------------------------

    @property
    def meta(self) -> Meta:
        rows = dict(self._query("SELECT key, value FROM meta"))
        try:
            return Meta(
                format_version=schema.current_version(self._conn),
                model_id=json.loads(rows["model_id"]),
                dim=int(json.loads(rows.get("dim", "0"))),
                chunk_tokens=int(json.loads(rows.get("chunk_tokens", "0"))),
                chunk_overlap=int(json.loads(rows.get("chunk_overlap", "0"))),
                int8_step=float(json.loads(rows.get("int8_step", "0"))),
                created_at=json.loads(rows.get("created_at", '""')),
                rescore_bits=_rescore_bits(json.loads(rows.get("rescore_bits", "8"))),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ArchiveError(f"{self.path}: archive metadata is damaged ({exc})") from exc

    def _set_meta(self, conn: sqlite3.Connection, **values: object) -> None:
        conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                         [(k, json.dumps(v)) for k, v in values.items()])

    def check_model(self, model: str) -> None:
        """Refuse to mix vectors of another model into (or query) this archive."""
        wanted, have = _normalize(model), self.meta.model_id
        if wanted != have:
            raise ModelError(f"{self.path} was made with model {have!r}, not {wanted!r}; "
                             "vectors of different models cannot be compared")

    def encoder(self) -> Encoder:
        """The archive's model, loaded on first use."""
        if self._encoder is None:
            encoder = self._encoder_factory(self.meta.model_id)
            dim = self.meta.dim
            if dim and encoder.dim != dim:
                raise ModelError(f"model {encoder.model_id!r} gives {encoder.dim}-d vectors but "
                                 f"{self.path} holds {dim}-d ones")
            self._encoder = encoder
        return self._encoder

    # -- adding --------------------------------------------------------------------------

    def add(self, sources: Iterable[Source | Skipped],
            progress: Callable[[int], None] | None = None,
            on_commit: Callable[[list[str]], None] | None = None) -> AddReport:
        """Store new briefs and new versions of changed ones; unchanged ones cost a hash.
        Commits every BATCH_BRIEFS briefs, so an interrupted add keeps what it committed;
        `on_commit` hears the names each commit made durable."""
        self._require_writer()
        report = AddReport()
        latest = dict(self._query(
            "SELECT path, c.sha256 FROM briefs b JOIN contents c ON c.id = b.content_id "
            "WHERE version = (SELECT MAX(version) FROM briefs b2 WHERE b2.path = b.path)"))
        ahead: list[tuple[str, bytes, bytes]] = []
        ahead_bytes = 0
        for source in sources:
            item = self._admit(source, latest, report)
            if progress:
                progress(1)
            if item is None:
                continue
            latest[item[0]] = item[2]
            ahead.append(item)
            ahead_bytes += len(item[1])
            if len(ahead) >= ENCODE_AHEAD_BRIEFS or ahead_bytes >= ENCODE_AHEAD_BYTES:
                self._store_ahead(ahead, report, on_commit)
                ahead, ahead_bytes = [], 0
        if ahead:
            self._store_ahead(ahead, report, on_commit)
        try:
            # executescript steps the pragma to the end; execute() would free one page only
            self._conn.executescript("PRAGMA incremental_vacuum;")
        except SQLITE_ERRORS as exc:
            raise _archive_error(self.path, exc) from exc
        return report

    def _admit(self, source: Source | Skipped, latest: dict[str, bytes],
               report: AddReport) -> tuple[str, bytes, bytes] | None:
        """(name, bytes, sha256) of a source to store, or None (skipped or unchanged)."""
        if isinstance(source, Skipped):
            report.skipped.append(source)
            return None
        data = source.read_or_skip()
        if isinstance(data, Skipped):
            report.skipped.append(data)
            return None
        if not data:
            report.skipped.append(Skipped(source.name, "empty"))
            return None
        digest = codec.sha256(data)
        if latest.get(source.name) == digest:  # checked first: a nightly re-add is mostly this
            report.unchanged += 1
            return None
        if is_binary(data):
            report.skipped.append(Skipped(source.name, "binary, not text"))
            return None
        if not source.name:
            report.skipped.append(Skipped(source.name, "no usable name"))
            return None
        return source.name, data, digest

    def _store_ahead(self, items: list[tuple[str, bytes, bytes]], report: AddReport,
                     on_commit: Callable[[list[str]], None] | None) -> None:
        """Encode the new contents of `items` in one call, then store them in transactions
        of at most BATCH_BRIEFS briefs / BATCH_BYTES bytes."""
        new: dict[bytes, tuple[bytes, str, str]] = {}  # sha -> (data, text, encoding)
        for name, data, digest in items:
            if digest not in new and not self._content_id(digest):
                text, encoding = decode_text(data)
                if encoding not in ("utf-8", "utf-16"):
                    report.fallback_decoded.append((name, encoding))
                new[digest] = (data, text, encoding)
        encoded: dict[bytes, EncodedBrief] = {}
        if new:
            briefs = encode_briefs(self.encoder(), [text for _, text, _ in new.values()])
            encoded = dict(zip(new, briefs, strict=True))
        batch: list[tuple[str, bytes, bytes]] = []
        batch_bytes = 0
        for index, item in enumerate(items, 1):
            batch.append(item)
            batch_bytes += len(item[1])
            if len(batch) >= BATCH_BRIEFS or batch_bytes >= BATCH_BYTES or index == len(items):
                self._store_batch(batch, new, encoded, report, on_commit)
                batch, batch_bytes = [], 0

    def _store_batch(self, batch: list[tuple[str, bytes, bytes]],
                     contents: dict[bytes, tuple[bytes, str, str]],
                     encoded: dict[bytes, EncodedBrief], report: AddReport,
                     on_commit: Callable[[list[str]], None] | None) -> None:
        """Compress the batch's new contents (encoded ahead) and write it in one transaction.
        `contents` holds the window's contents not stored yet; this batch takes its own out,
        so a content repeated in a later batch is not looked up or stored again."""
        new = {digest: contents.pop(digest) for _, _, digest in batch if digest in contents}
        dictionary = self._dictionary()
        blocks = _pack_blocks([(digest, data) for digest, (data, _, _) in new.items()],
                              dictionary[1] if dictionary else None)

        stored: list[str] = []
        with self._transaction() as conn:
            placed: dict[bytes, tuple[int, int]] = {}  # sha -> (block id, offset)
            for frame, raw_size, members in blocks:
                block_id = conn.execute(
                    "INSERT INTO blocks(dict_id, size, data) VALUES (?, ?, ?)",
                    (dictionary[0] if dictionary else None, raw_size, frame)).lastrowid
                assert block_id is not None
                placed.update({digest: (block_id, offset) for digest, offset in members})
                report.bytes_stored += len(frame)
            inserted: list[tuple[int, Any]] = []
            for digest, (data, _, encoding) in new.items():
                vectors = encoded[digest]
                n_vectors = 1 if len(vectors.spans) == 1 else len(vectors.spans) + 1
                cur = conn.execute(
                    "INSERT OR IGNORE INTO contents(sha256, size, data, encoding, n_vectors, "
                    "block_id, block_offset) VALUES (?, ?, x'', ?, ?, ?, ?)",
                    (digest, len(data), encoding, n_vectors, *placed[digest]))
                if cur.rowcount:
                    assert cur.lastrowid is not None
                    inserted.append((cur.lastrowid, vectors))
            now = _now()
            for name, data, digest in batch:
                row = conn.execute(
                    "SELECT b.version, c.sha256 FROM briefs b JOIN contents c "
                    "ON c.id = b.content_id WHERE b.path = ? ORDER BY b.version DESC LIMIT 1",
                    (name,)).fetchone()
                if row and row[1] == digest:
                    report.unchanged += 1  # the same bytes were added meanwhile
                    continue
                conn.execute("INSERT INTO briefs(path, version, content_id, added_at) "
                             "VALUES (?, ?, ?, ?)",
                             (name, row[0] + 1 if row else 1, self._content_id(digest), now))
                (report.new_versions if row else report.added).append(name)
                report.bytes_in += len(data)
                stored.append(name)
            if inserted:
                self._write_vectors(conn, inserted)
            if dictionary is None:
                self._maybe_train_dictionary(conn)
        if on_commit and stored:
            on_commit(stored)

    def _content_id(self, digest: bytes) -> int | None:
        row = self._conn.execute("SELECT id FROM contents WHERE sha256 = ?",
                                 (digest,)).fetchone()
        return int(row[0]) if row else None

    def _write_vectors(self, conn: sqlite3.Connection, inserted: list[tuple[int, Any]]) -> None:
        content_ids, kinds, spans, rows = [], [], [], []
        for content_id, vectors in inserted:
            if len(vectors.spans) == 1:
                content_ids.append(content_id)
                kinds.append(KIND_BRIEF_AND_CHUNK)
                spans.append(vectors.spans[0])
                rows.append(vectors.brief_vector)
                continue
            for span, chunk in zip(vectors.spans, vectors.chunk_vectors, strict=True):
                content_ids.append(content_id)
                kinds.append(KIND_CHUNK)
                spans.append(span)
                rows.append(chunk)
            content_ids.append(content_id)
            kinds.append(KIND_BRIEF)
            spans.append((vectors.spans[0][0], vectors.spans[-1][1]))
            rows.append(vectors.brief_vector)
        matrix: Floats = np.vstack(rows).astype(np.float32)
        meta = self.meta
        if not meta.int8_step:
            encoder = self.encoder()
            scale = meta.codes.calibrate(matrix)
            self._set_meta(conn, dim=int(matrix.shape[1]), int8_step=scale.step,
                           chunk_tokens=encoder.max_tokens, chunk_overlap=CHUNK_OVERLAP_TOKENS)
        else:
            scale = meta.codes.scale(meta.int8_step)
        conn.execute(
            "INSERT INTO vec_segments(n, content_ids, kinds, spans, bits, int8) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (len(rows), np.asarray(content_ids, np.int64).tobytes(),
             np.asarray(kinds, np.uint8).tobytes(), np.asarray(spans, np.int32).tobytes(),
             binary_codes(matrix).tobytes(), meta.codes.pack(scale.encode(matrix))))
        _merge_segments(conn)

    # -- dictionaries --------------------------------------------------------------------

    def _dictionary(self) -> tuple[int, bytes] | None:
        row = self._conn.execute("SELECT id, data FROM dicts ORDER BY id DESC LIMIT 1").fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def _dictionaries(self) -> dict[int, bytes]:
        return {int(i): bytes(d) for i, d in self._query("SELECT id, data FROM dicts")}

    def _maybe_train_dictionary(self, conn: sqlite3.Connection) -> None:
        """Once enough briefs exist, train a zstd dictionary on them. It is kept when it beats
        its own size on briefs compressed one by one (what the small blocks of a nightly add
        look like); existing blocks are recompressed with it where that makes them smaller."""
        count, raw = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM contents"
                                  ).fetchone()
        if count < codec.DICT_MIN_SAMPLES or raw < DICT_TRIGGER_BYTES:
            return  # cheap: no block is inflated until training can happen
        blocks = conn.execute("SELECT id, size, CAST(data AS BLOB) FROM blocks "
                              "WHERE dict_id IS NULL ORDER BY id LIMIT 64").fetchall()
        inflated = {int(i): codec.decompress(bytes(d), int(n)) for i, n, d in blocks}
        samples: list[bytes] = []
        for block_id, raw in inflated.items():
            for offset, size in conn.execute("SELECT block_offset, size FROM contents "
                                             "WHERE block_id = ?", (block_id,)):
                if sum(map(len, samples)) < DICT_TRAINING_BYTES:
                    samples.append(raw[offset:offset + size])
        dictionary = codec.train_dictionary(samples)
        if dictionary is None:
            return
        probe = samples[:: max(1, len(samples) // 200)]
        gain = sum(len(codec.compress(x)) - len(codec.compress(x, dictionary)) for x in probe)
        if gain * len(samples) / len(probe) <= len(dictionary):
            return
        dict_id = conn.execute("INSERT INTO dicts(data) VALUES (?)", (dictionary,)).lastrowid
        for block_id, _, frame in blocks:
            smaller = codec.compress(inflated[int(block_id)], dictionary, checksum=False)
            if len(smaller) < len(frame):
                conn.execute("UPDATE blocks SET data = ?, dict_id = ? WHERE id = ?",
                             (smaller, dict_id, block_id))
        self._block_cache.clear()

    # -- reading -------------------------------------------------------------------------

    def records(self, selectors: Sequence[str] = (), *, version: int | None = None,
                all_versions: bool = False) -> list[BriefRecord]:
        """Briefs matching the selectors (paths, folders, globs, sha256 prefixes); no
        selector = every brief. Latest versions unless `version` or `all_versions`."""
        rows = [self._record(r) for r in self._query(_RECORD_SQL + _RECORD_ORDER)]
        if not all_versions and version is None:
            rows = [r for r in rows if r.version == r.versions]
        elif version is not None:
            rows = [r for r in rows if r.version == version]
        if not selectors:
            return rows
        chosen: dict[tuple[str, int], BriefRecord] = {}
        for selector in selectors:
            matched = [r for r in rows if _selects(selector, r)]
            if not matched:
                which = f" at version {version}" if version is not None else ""
                raise InputError(f"no brief matches {selector!r}{which}; "
                                 "see `briefmin ls ARCHIVE`")
            chosen.update({(r.path, r.version): r for r in matched})
        return sorted(chosen.values(), key=lambda r: (r.path, r.version))

    def records_of_contents(self, content_ids: Iterable[int], *, all_versions: bool = False
                            ) -> dict[int, list[BriefRecord]]:
        """The briefs holding each of these contents (latest versions unless `all_versions`),
        looked up by id: a search needs a few records, not all of a million."""
        wanted = sorted({int(i) for i in content_ids})
        out: dict[int, list[BriefRecord]] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps bound parameters per statement
            part = wanted[start:start + 500]
            for row in self._query(_RECORD_SQL + f" WHERE c.id IN ({','.join('?' * len(part))})"
                                   + _RECORD_ORDER, part):
                record = self._record(row)
                if all_versions or record.version == record.versions:
                    out.setdefault(record.content_id, []).append(record)
        return out

    def _record(self, row: Sequence[Any]) -> BriefRecord:
        path, version, versions, sha, size, stored, added_at, encoding, content_id = row
        _check_cells(row, (str, int, int, bytes, int, int, str, str, int),
                     f"{self.path}: the catalogue row of {str(path)[:80]!r}")
        if len(sha) != 32:
            raise IntegrityError(f"{self.path}: the catalogue row of {path!r} has a damaged "
                                 "sha256")
        return BriefRecord(path, version, versions, sha.hex(), size, stored, added_at,
                           encoding, content_id)

    def read(self, record: BriefRecord) -> bytes:
        """The original bytes of a brief, checked against its sha256."""
        return self._read_content(record.content_id)

    def _read_content(self, content_id: int, dicts: dict[int, bytes] | None = None) -> bytes:
        try:
            # CAST: a damaged or hostile archive may hold text where a blob belongs
            row = self._conn.execute(
                "SELECT CAST(sha256 AS BLOB), size, dict_id, CAST(data AS BLOB), block_id, "
                "block_offset FROM contents WHERE id = ?", (content_id,)).fetchone()
        except SQLITE_ERRORS as exc:
            raise IntegrityError(f"stored item {content_id} cannot be read ({exc})") from exc
        if row is None:
            raise IntegrityError(f"stored item {content_id} is missing")
        sha, size, dict_id, blob, block_id, offset = row
        _check_cells(row, (bytes, int, (int, type(None)), (bytes, type(None)),
                           (int, type(None)), (int, type(None))), f"stored item {content_id}")
        dicts = dicts if dicts is not None else self._dictionaries()
        if block_id is not None:
            raw, problem = self._block(int(block_id), dicts)
            if not isinstance(offset, int) or not 0 <= offset <= len(raw) - int(size):
                # past the damage in a damaged block (briefs before it are still readable)
                raise IntegrityError(problem or "stored item lies outside its block")
            data = raw[offset:offset + int(size)]
        elif blob is not None:  # a format-1 item in a frame of its own
            data = codec.decompress(blob, size, _dict(dicts, dict_id))
        else:
            raise IntegrityError(f"stored item {content_id} has neither a block nor data")
        if codec.sha256(data) != bytes(sha):
            raise IntegrityError("stored item does not match its sha256")
        return data

    def _block(self, block_id: int, dicts: dict[int, bytes]) -> tuple[bytes, str | None]:
        """A solid block inflated (bounded by its recorded size), with the problem if it is
        damaged: then the bytes are what precedes the damage."""
        if block_id in self._block_cache:
            self._block_cache.move_to_end(block_id)
            return self._block_cache[block_id]
        try:
            row = self._conn.execute("SELECT dict_id, size, CAST(data AS BLOB) FROM blocks "
                                     "WHERE id = ?", (block_id,)).fetchone()
        except SQLITE_ERRORS as exc:
            raise IntegrityError(f"block {block_id} cannot be read ({exc})") from exc
        if row is None:
            raise IntegrityError(f"block {block_id} is missing")
        dict_id, size, blob = row
        _check_cells(row, ((int, type(None)), int, bytes), f"block {block_id}")
        raw, problem = codec.inflate(blob, size, _dict(dicts, dict_id))
        self._block_cache[block_id] = (raw, problem)
        while len(self._block_cache) > 1 and \
                sum(len(r) for r, _ in self._block_cache.values()) > BLOCK_CACHE_BYTES:
            self._block_cache.popitem(last=False)
        return raw, problem

    def text(self, content_id: int) -> str:
        """The decoded text of a stored content, as the encoder saw it."""
        return decode_text(self._read_content(content_id))[0]

    def restore(self, records: Sequence[BriefRecord], to: str | os.PathLike[str], *,
                force: bool = False) -> list[Path]:
        """Write each brief under `to` at its archived path, byte-exact and sha256-checked.
        Never writes outside `to`, never through a symlink, never over a file without force."""
        root = Path(to)
        root.mkdir(parents=True, exist_ok=True)
        plans = [(record, safe_target(root, record.path, ArchiveError)) for record in records]
        if not force:
            taken = [str(target) for _, target in plans if os.path.lexists(target)]
            if taken:
                raise InputError(f"{taken[0]} already exists"
                                 f"{f' (and {len(taken) - 1} more)' if len(taken) > 1 else ''}"
                                 "; use --force to overwrite")
        written = []
        dicts = self._dictionaries()
        with FolderWriter(root, ArchiveError) as writer:
            for record, target in plans:
                writer.write(record.path.split("/"), self._read_content(record.content_id, dicts))
                written.append(target)
        return written

    # -- removing ------------------------------------------------------------------------

    def rm(self, selectors: Sequence[str], *, version: int | None = None) -> list[BriefRecord]:
        """Remove the selected briefs (every version, or just `version`); bytes and vectors no
        brief needs any more are deleted and the file is compacted."""
        self._require_writer()
        if not selectors:
            raise UsageError("rm needs at least one selector; nothing was removed")
        with self._transaction() as conn:
            if version is None:
                paths = {r.path for r in self.records(selectors)}
                gone = [r for r in self.records(all_versions=True) if r.path in paths]
            else:
                gone = self.records(selectors, version=version)
            conn.executemany("DELETE FROM briefs WHERE path = ? AND version = ?",
                             [(r.path, r.version) for r in gone])
            self._collect_garbage(conn)
        self.compact()
        return gone

    def _collect_garbage(self, conn: sqlite3.Connection) -> None:
        orphans = {int(i) for (i,) in conn.execute(
            "SELECT id FROM contents WHERE id NOT IN (SELECT content_id FROM briefs)")}
        if not orphans:
            return
        touched = {int(b) for (b,) in conn.execute(
            f"SELECT DISTINCT block_id FROM contents WHERE block_id IS NOT NULL AND id IN "
            f"({','.join('?' * len(orphans))})", sorted(orphans))}
        conn.executemany("DELETE FROM contents WHERE id = ?", [(i,) for i in orphans])
        for block_id in touched:
            self._rewrite_block(conn, block_id)
        row_bytes = self.meta.codes.row_bytes(self.meta.dim)
        for seg_id, n, ids, kinds, spans, bits, int8 in conn.execute(
                "SELECT id, n, content_ids, kinds, spans, bits, int8 FROM vec_segments"
                ).fetchall():
            cids = np.frombuffer(ids, np.int64)
            keep = ~np.isin(cids, list(orphans))
            if keep.all():
                continue
            if not keep.any():
                conn.execute("DELETE FROM vec_segments WHERE id = ?", (seg_id,))
                continue
            width = len(bits) // n
            conn.execute(
                "UPDATE vec_segments SET n = ?, content_ids = ?, kinds = ?, spans = ?, "
                "bits = ?, int8 = ? WHERE id = ?",
                (int(keep.sum()), cids[keep].tobytes(),
                 np.frombuffer(kinds, np.uint8)[keep].tobytes(),
                 np.frombuffer(spans, np.int32).reshape(n, 2)[keep].tobytes(),
                 np.frombuffer(bits, np.uint8).reshape(n, width)[keep].tobytes(),
                 np.frombuffer(int8, np.uint8).reshape(n, row_bytes)[keep].tobytes(),
                 seg_id))

    def _rewrite_block(self, conn: sqlite3.Connection, block_id: int) -> None:
        """Recompress a block with only the contents that still live in it."""
        members = conn.execute("SELECT id, block_offset, size FROM contents WHERE block_id = ? "
                               "ORDER BY block_offset", (block_id,)).fetchall()
        if not members:
            conn.execute("DELETE FROM blocks WHERE id = ?", (block_id,))
            return
        dicts = self._dictionaries()
        raw, problem = self._block(block_id, dicts)
        if problem:
            raise IntegrityError(f"cannot rewrite a damaged block ({problem}); "
                                 "run `briefmin verify`")
        (dict_id,), = conn.execute("SELECT dict_id FROM blocks WHERE id = ?", (block_id,))
        kept: list[bytes] = []
        offsets: list[tuple[int, int]] = []
        position = 0
        for content_id, offset, size in members:
            offsets.append((position, content_id))
            kept.append(raw[offset:offset + size])
            position += size
        body = b"".join(kept)
        conn.execute("UPDATE blocks SET size = ?, data = ? WHERE id = ?",
                     (len(body), codec.compress(body, _dict(dicts, dict_id), checksum=False),
                      block_id))
        conn.executemany("UPDATE contents SET block_offset = ? WHERE id = ?", offsets)
        self._block_cache.clear()

    def compact(self) -> None:
        """Give free pages back to the file system."""
        try:
            self._conn.execute("VACUUM")
        except SQLITE_ERRORS as exc:
            raise _archive_error(self.path, exc) from exc

    # -- vectors -------------------------------------------------------------------------

    def vectors(self, kinds: Sequence[int] = SEARCH_KINDS) -> StoredVectors:
        """All vector rows of the given kinds, in a few large reads (one per segment).
        int8 codes stay on disk until `StoredVectors.int8(rows)` asks for some."""
        meta = self.meta
        width = (meta.dim // 8 + 7) // 8 * 8
        parts: dict[str, list[Any]] = {k: [] for k in ("ids", "kinds", "spans", "bits", "loc")}
        for seg_id, n, ids, kind_blob, spans, bits in self._query(
                "SELECT id, n, content_ids, kinds, spans, bits FROM vec_segments ORDER BY id"):
            kind = np.frombuffer(kind_blob, np.uint8)
            mask = np.isin(kind, kinds)
            # a slice keeps views: most segments hold only wanted kinds, and a mask copies
            keep: Any = slice(None) if mask.all() else mask
            parts["ids"].append(np.frombuffer(ids, np.int64)[keep])
            parts["kinds"].append(kind[keep])
            parts["spans"].append(np.frombuffer(spans, np.int32).reshape(n, 2)[keep])
            parts["bits"].append(np.frombuffer(bits, np.uint8).reshape(n, width)[keep])
            rows = np.flatnonzero(mask)
            parts["loc"].append(np.column_stack([np.full(len(rows), seg_id, np.int64), rows]))

        def cat(key: str, dtype: Any, shape: tuple[int, ...]) -> Any:
            return np.concatenate(parts[key]) if parts[key] else np.zeros(shape, dtype)

        return StoredVectors(
            content_ids=cat("ids", np.int64, (0,)), kinds=cat("kinds", np.uint8, (0,)),
            spans=cat("spans", np.int32, (0, 2)), bits=cat("bits", np.uint8, (0, width)),
            locations=cat("loc", np.int64, (0, 2)),
            int8_step=meta.int8_step, dim=meta.dim, _reader=self._int8_reader(meta),
            rescore_bits=meta.rescore_bits)

    def _int8_reader(self, meta: Meta) -> Callable[[npt.NDArray[np.int64]],
                                                     npt.NDArray[np.int8]]:
        codes, dim = meta.codes, meta.dim
        row_bytes = codes.row_bytes(dim)

        def read(locations: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
            out = np.empty((len(locations), dim), np.int8)
            for i, (seg_id, row) in enumerate(locations.reshape(-1, 2)):
                with self._conn.blobopen("vec_segments", "int8", int(seg_id),
                                         readonly=True) as blob:
                    blob.seek(int(row) * row_bytes)
                    out[i] = codes.unpack(blob.read(row_bytes), 1, dim)[0]
            return out
        return read

    def all_int8(self, kinds: Sequence[int] = BRIEF_KINDS) -> npt.NDArray[np.int8]:
        """Every int8 code of the given kinds, in segment order (as `vectors(kinds)`)."""
        meta = self.meta
        dim, chunks = meta.dim, []
        for kind_blob, n, int8 in self._query("SELECT kinds, n, int8 FROM vec_segments "
                                              "ORDER BY id"):
            keep = np.isin(np.frombuffer(kind_blob, np.uint8), kinds)
            chunks.append(meta.codes.unpack(int8, n, dim)[keep])
        return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.int8)

    def paths_by_content(self, all_versions: bool = False) -> dict[int, list[BriefRecord]]:
        """Which briefs (latest versions unless `all_versions`) hold each content."""
        out: dict[int, list[BriefRecord]] = {}
        for record in self.records(all_versions=all_versions):
            out.setdefault(record.content_id, []).append(record)
        return out

    # -- reports -------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        meta = self.meta
        (paths, versions, raw), = self._query(
            "SELECT COUNT(DISTINCT path), COUNT(*), COALESCE(SUM(c.size), 0) FROM briefs b "
            "JOIN contents c ON c.id = b.content_id")
        (contents, unique_raw, frames), = self._query(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(LENGTH(data)), 0) "
            "FROM contents")
        (blocks, block_bytes), = self._query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM blocks")
        text = frames + block_bytes
        (dicts,), = self._query("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM dicts")
        (vec_rows, vec_bytes), = self._query(
            "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(LENGTH(content_ids) + LENGTH(kinds) + "
            "LENGTH(spans) + LENGTH(bits) + LENGTH(int8)), 0) FROM vec_segments")
        stored = os.path.getsize(self.path)
        return {
            "path": self.path, "format_version": meta.format_version,
            "briefs": paths, "versions": versions, "unique_contents": contents,
            "raw_bytes": raw, "unique_raw_bytes": unique_raw, "stored_bytes": stored,
            "text_bytes": text + dicts, "vector_bytes": vec_bytes,
            "other_bytes": max(0, stored - text - dicts - vec_bytes),
            "ratio": round(raw / stored, 3) if stored else 0.0,
            "vectors": vec_rows, "blocks": blocks, "dictionaries": len(self._dictionaries()),
            "model": meta.model_id, "dim": meta.dim,
            "chunking": {"tokens": meta.chunk_tokens, "overlap": meta.chunk_overlap},
            "quantization": {"profile": meta.profile, "binary_bits": meta.dim,
                             "rescore_bits": meta.rescore_bits, "int8_step": meta.int8_step},
            "created_at": meta.created_at,
        }

    def verify(self) -> VerifyReport:
        """Check everything; return the problems instead of raising, so all are reported."""
        problems: list[Problem] = []
        try:
            integrity = [r[0] for r in self._query("PRAGMA integrity_check")]
        except BriefminError as exc:
            return VerifyReport([Problem(str(exc))], 0, 0, 0)
        if integrity != ["ok"]:
            problems.extend(Problem(f"SQLite integrity: {line}") for line in integrity[:20])
        owners: dict[int, list[str]] = {}
        for record in self.records(all_versions=True):
            owners.setdefault(record.content_id, []).append(
                f"{record.path}@{record.version}" if record.versions > 1 else record.path)
        dicts = self._dictionaries()
        checked = 0
        expected_vectors: dict[int, int] = {}
        for content_id, n_vectors in self._query("SELECT id, n_vectors FROM contents"):
            if not isinstance(n_vectors, int):
                problems.append(Problem(f"stored item {content_id} has a damaged vector count",
                                        tuple(owners.get(content_id, ()))))
                n_vectors = -1  # never matches: the vector check names it too
            expected_vectors[int(content_id)] = n_vectors
            try:
                self._read_content(int(content_id), dicts)
            except IntegrityError as exc:
                problems.append(Problem(str(exc), tuple(owners.get(content_id, ()))))
            checked += 1
        problems.extend(self._verify_vectors(expected_vectors, owners))
        orphaned = len(set(expected_vectors) - set(owners)) + len(self._query(
            "SELECT id FROM blocks WHERE id NOT IN "
            "(SELECT block_id FROM contents WHERE block_id IS NOT NULL)"))
        (free_pages,), = self._query("PRAGMA freelist_count")
        (page_size,), = self._query("PRAGMA page_size")
        return VerifyReport(problems, checked, orphaned, int(free_pages) * int(page_size))

    def _verify_vectors(self, expected: dict[int, int],
                        owners: dict[int, list[str]]) -> list[Problem]:
        meta = self.meta
        dim, row_bytes = meta.dim, meta.codes.row_bytes(meta.dim)
        width = (dim // 8 + 7) // 8 * 8
        found: dict[int, int] = {}
        problems = []
        for seg_id, n, *columns in self._query(
                "SELECT id, n, content_ids, kinds, spans, bits, int8 FROM vec_segments"):
            if not isinstance(n, int) or not all(isinstance(c, bytes) for c in columns):
                problems.append(Problem(f"vector block {seg_id} holds values of the wrong type"))
                continue
            ids, kinds, spans, bits, int8 = columns
            sizes = (len(ids), len(kinds), len(spans), len(bits), len(int8))
            if sizes != (8 * n, n, 8 * n, width * n, row_bytes * n):
                problems.append(Problem(f"vector block {seg_id} has inconsistent sizes"))
                continue
            for cid, count in zip(*np.unique(np.frombuffer(ids, np.int64), return_counts=True),
                                  strict=True):
                found[int(cid)] = found.get(int(cid), 0) + int(count)
        for cid in sorted(set(expected) | set(found)):
            if expected.get(cid) != found.get(cid, 0):
                problems.append(Problem(
                    f"vector count mismatch: {found.get(cid, 0)} stored, "
                    f"{expected.get(cid, 0)} expected", tuple(owners.get(cid, ()))))
        return problems

    # -- helpers -------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except SQLITE_ERRORS as exc:
            raise _archive_error(self.path, exc) from exc

    def _require_writer(self) -> None:
        if self._lock is None:
            raise UsageError("archive opened read-only; open with write=True")


def _check_cells(row: Sequence[Any], kinds: Sequence[type | tuple[type, ...]], what: str
                 ) -> None:
    """SQLite returns whatever type a damaged or hostile file holds in a cell: refuse a row
    whose values are not of the kinds this code was written for."""
    if not all(isinstance(value, kind) for value, kind in zip(row, kinds, strict=True)):
        raise IntegrityError(f"{what} has damaged catalogue values; run `briefmin verify`")


def _segment_tier(rows: int) -> int:
    """0 for add-sized segments (< 512 rows), then one tier per SEGMENT_FANOUT-fold size."""
    tier = 0
    while rows >= 512 * SEGMENT_FANOUT ** tier:
        tier += 1
    return tier


def _merge_segments(conn: sqlite3.Connection) -> None:
    """Size-tiered merging, as in LSM trees: whenever SEGMENT_FANOUT segments of one size tier
    exist, they become one. Each add writes a small segment, and a million briefs added 64 at
    a time would otherwise leave 16k segments, each a row read and a few numpy calls per
    search; merged, a search loads a million codes in a handful of reads, and every vector is
    rewritten only log8(n / 64) times. Column blobs are row-major, so merging is joining."""
    while True:
        tiers: dict[int, list[int]] = {}
        for seg_id, n in conn.execute("SELECT id, n FROM vec_segments ORDER BY id"):
            if n < MAX_SEGMENT_ROWS // SEGMENT_FANOUT:  # the merge stays within MAX_SEGMENT_ROWS
                tiers.setdefault(_segment_tier(int(n)), []).append(int(seg_id))
        full = next((ids for ids in tiers.values() if len(ids) >= SEGMENT_FANOUT), None)
        if full is None:
            return
        group = full[:SEGMENT_FANOUT]
        marks = ",".join("?" * len(group))
        parts = conn.execute(f"SELECT n, content_ids, kinds, spans, bits, int8 FROM vec_segments "
                             f"WHERE id IN ({marks}) ORDER BY id", group).fetchall()
        conn.execute("INSERT INTO vec_segments(n, content_ids, kinds, spans, bits, int8) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (sum(int(p[0]) for p in parts),
                      *(b"".join(bytes(p[col]) for p in parts) for col in range(1, 6))))
        conn.execute(f"DELETE FROM vec_segments WHERE id IN ({marks})", group)


_RECORD_SQL = """
    SELECT b.path, b.version,
           (SELECT MAX(version) FROM briefs b2 WHERE b2.path = b.path),
           c.sha256, c.size,
           -- a brief in a solid block is charged its share of the block's frame
           CASE WHEN c.block_id IS NULL THEN LENGTH(c.data)
                ELSE c.size * LENGTH(bl.data) / MAX(bl.size, 1) END,
           b.added_at, c.encoding, c.id
    FROM briefs b JOIN contents c ON c.id = b.content_id
    LEFT JOIN blocks bl ON bl.id = c.block_id
"""
_RECORD_ORDER = " ORDER BY b.path, b.version"

_HEX = re.compile(r"[0-9a-f]{4,64}")


def _selects(selector: str, record: BriefRecord) -> bool:
    """A selector is an exact path, a folder prefix, a glob, or a sha256 prefix (≥ 4 hex)."""
    path, folder = record.path, selector.rstrip("/") + "/"
    if selector == path or path.startswith(folder):
        return True
    if any(ch in selector for ch in "*?[") and fnmatch.fnmatchcase(path, selector):
        return True
    return bool(_HEX.fullmatch(selector)) and record.sha256.startswith(selector)


def _dict(dicts: dict[int, bytes], dict_id: int | None) -> bytes | None:
    if dict_id is None:
        return None
    if dict_id not in dicts:
        raise IntegrityError(f"stored item needs dictionary {dict_id}, which is missing")
    return dicts[dict_id]


def _pack_blocks(items: list[tuple[bytes, bytes]], dictionary: bytes | None
                 ) -> list[tuple[bytes, int, list[tuple[bytes, int]]]]:
    """Group (sha, bytes) in order into solid blocks of about BLOCK_BYTES; returns
    (frame, raw size, [(sha, offset)]) per block. Folder order keeps similar briefs together,
    which is what makes a solid block compress well."""
    groups: list[list[tuple[bytes, bytes]]] = [[]]
    size = 0
    for digest, data in items:
        if groups[-1] and size + len(data) > BLOCK_BYTES:
            groups.append([])
            size = 0
        groups[-1].append((digest, data))
        size += len(data)
    blocks = []
    for group in filter(None, groups):
        offsets = list(itertools.accumulate((len(data) for _, data in group), initial=0))
        body = b"".join(data for _, data in group)
        blocks.append((codec.compress(body, dictionary, checksum=False), len(body),
                       [(digest, offset) for (digest, _), offset in zip(group, offsets[:-1],
                                                                      strict=True)]))
    return blocks


def _normalize(model: str) -> str:
    from .encoder import normalize_model_id

    return normalize_model_id(model)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _archive_error(path: str, exc: sqlite3.Error | UnicodeDecodeError) -> ArchiveError:
    if isinstance(exc, UnicodeDecodeError):
        message = bytes(exc.object).decode("utf-8", "replace")
    else:
        message = str(exc)
    if "disk is full" in message or "disk I/O error" in message:
        return ArchiveError(f"{path}: cannot write ({message}); the archive is unchanged "
                            "since its last commit; free some space and run again")
    if "locked" in message or "busy" in message:
        from .errors import ArchiveBusyError

        return ArchiveBusyError(f"{path}: archive is busy ({message}); try again later")
    if any(sign in message for sign in ("not a database", "malformed", "Could not decode")):
        return ArchiveError(f"{path}: archive is damaged ({message}); run `briefmin verify`")
    return ArchiveError(f"{path}: {message}")


def _rescore_bits(value: object) -> int:
    if not isinstance(value, int) or value not in PROFILES.values():
        raise ValueError(f"rescore_bits {value!r}")
    return value


def _create(path: str, model_id: str, profile: str) -> None:
    """Build an empty archive beside `path` and link it into place: a concurrent creator or a
    kill mid-way never leaves a half-made archive under the real name."""
    from .encoder import normalize_model_id

    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ArchiveError(f"{path}: folder {parent} does not exist")
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.new")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # pages freed by rewrites (dictionary recompression, rm) go back to the file
            # system at the end of each add, without a full VACUUM
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("BEGIN IMMEDIATE")
            schema.migrate(conn)
            conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [
                (k, json.dumps(v)) for k, v in {
                    "model_id": normalize_model_id(model_id), "dim": 0, "int8_step": 0.0,
                    "chunk_tokens": 0, "chunk_overlap": CHUNK_OVERLAP_TOKENS,
                    "rescore_bits": PROFILES[profile], "created_at": _now()}.items()])
            conn.execute("COMMIT")
        finally:
            conn.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # like any file the user creates
        with suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    except (OSError, sqlite3.Error) as exc:
        raise ArchiveError(f"{path}: cannot create archive ({exc})") from exc
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def _check_header(path: str) -> None:
    """Tell 'no archive', 'a folder', 'an empty file' and 'not an archive' apart up front,
    with messages that say what to do."""
    if not os.path.lexists(path):
        raise ArchiveError(f"{path}: no such archive; create one with "
                           f"`briefmin add {path} FOLDER`")
    if os.path.isdir(path):
        raise ArchiveError(f"{path}: is a folder, not an archive file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read archive ({exc.strerror or exc})") from exc
    if not head:
        raise ArchiveError(f"{path}: empty file, not a briefmin archive")
    if head != SQLITE_MAGIC:
        raise ArchiveError(f"{path}: not a briefmin archive")


def _connect(path: str, write: bool, wait: float | None) -> sqlite3.Connection:
    # Readers open read-write when they may, with query_only on: after a killed writer,
    # SQLite must roll its hot journal back before anyone can read, and that needs write
    # access. A read-only file is still readable when no journal is pending.
    mode = "rw" if write or os.access(path, os.W_OK) else "ro"
    uri = f"file:{_quote(os.path.abspath(path))}?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        if not write:
            conn.execute("PRAGMA query_only = 1")
        # readers wait out a writer's commit; writers already hold the whole-run lock
        timeout_ms = 60_000 if wait is None else max(5_000, int(wait * 1000))
        conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        return conn
    except SQLITE_ERRORS as exc:
        raise _archive_error(path, exc) from exc


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _check_schema(conn: sqlite3.Connection, path: str, write: bool) -> None:
    try:
        (app_id,), = conn.execute("PRAGMA application_id").fetchall()
        version = schema.current_version(conn)
    except SQLITE_ERRORS as exc:
        raise _archive_error(path, exc) from exc
    if app_id != schema.APPLICATION_ID:
        raise ArchiveError(f"{path}: an SQLite database, but not a briefmin archive")
    if version > schema.FORMAT_VERSION:
        raise NewerFormatError(f"{path}: written by a newer briefmin (format {version}, this "
                               f"one reads up to {schema.FORMAT_VERSION}); upgrade briefmin")
    if version < schema.FORMAT_VERSION and (write or version < schema.OLDEST_READABLE):
        if not write:
            raise ArchiveError(f"{path}: format {version} is older than this briefmin reads; "
                               f"adding a brief to it (`briefmin add {path} FILE`) upgrades "
                               "it")
        try:
            conn.execute("BEGIN IMMEDIATE")
            schema.migrate(conn)
            conn.execute("COMMIT")
        except SQLITE_ERRORS as exc:
            conn.execute("ROLLBACK")
            raise _archive_error(path, exc) from exc
    try:
        # preparing a statement parses the whole schema: a damaged one is reported at open
        conn.execute("SELECT 1 FROM meta LIMIT 0").fetchall()
    except SQLITE_ERRORS as exc:
        raise _archive_error(path, exc) from exc
