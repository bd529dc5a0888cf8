"""Original bytes: solid blocks (many briefs in one zstd frame), the zstd dictionaries, and the
cache of inflated blocks a reader keeps."""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import ArchiveError, IntegrityError
from . import rows
from .connection import BYTES_OR_NONE, INT_OR_NONE, Connection, check_cells

if TYPE_CHECKING:  # imported by the first write: a reader (restore, ls) needs no thread pool
    from concurrent.futures import Future, ThreadPoolExecutor

# raw bytes per solid block: big enough to compress well (measured on the kernel docs: ~3.86x
# versus 3.66x for one frame per brief), small enough to restore one brief in ~2 ms
BLOCK_BYTES = 1024 * 1024
BLOCK_CACHE_BYTES = 8 * BLOCK_BYTES  # inflated blocks a reader keeps (and the last one)
DICT_TRAINING_BYTES = 4 * 1024 * 1024  # samples enough for a 112 KB dictionary, quick to train
# raw bytes of briefs before the first dictionary is trained: a dictionary trained on more
# samples is larger and better (20k Debian descriptions, blocks of 64: trained at 64 KB, 1.017x
# `tar | zstd -19`; at 128 KB 0.944x; at 256 KB 0.923x), and waiting costs only the
# recompression of the blocks written before it
DICT_TRIGGER_BYTES = 192 * 1024
# below this many contents, whether the text has reached DICT_TRIGGER_BYTES is summed at
# every batch (a scan of ~0.3 ms); above, only when a retry is due (see maybe_train_dictionary)
SUM_EVERY_BATCH_BELOW = 4096

# block ids bound per query of `frames` (SQLite allows 32,766)
_FRAME_PARAMETERS = 5000

_CONTENT_COLUMNS = rows.checked_columns("contents")


class _LastBlocks:
    """The last inflated blocks by id, (bytes, problem), up to BLOCK_CACHE_BYTES and at least
    the newest: their size is kept as a running sum (summing it per read was ~0.7 s per
    100,000 reads)."""

    def __init__(self) -> None:
        self._blocks: OrderedDict[int, tuple[bytes, str | None]] = OrderedDict()
        self._bytes = 0

    def get(self, block_id: int) -> tuple[bytes, str | None] | None:
        found = self._blocks.get(block_id)
        if found is not None:
            self._blocks.move_to_end(block_id)
        return found

    def put(self, block_id: int, block: tuple[bytes, str | None]) -> None:
        old = self._blocks.pop(block_id, None)
        self._bytes += len(block[0]) - (len(old[0]) if old else 0)
        self._blocks[block_id] = block
        while len(self._blocks) > 1 and self._bytes > BLOCK_CACHE_BYTES:
            _, (raw, _) = self._blocks.popitem(last=False)
            self._bytes -= len(raw)

    def clear(self) -> None:
        self._blocks.clear()
        self._bytes = 0


@dataclass
class Located:
    """`Blocks.locate`'s answer: (content id, sha256, size, block, offset, typed) rows in
    block order, and the ids asked for that no row has."""

    rows: list[Any]
    missing: list[int]


class Blocks:
    """Reads and writes the `blocks`, `dicts` and content-location columns of one archive."""

    def __init__(self, db: Connection) -> None:
        self.db = db
        # the last inflated blocks by id, up to BLOCK_CACHE_BYTES: (bytes, problem). Restoring
        # a folder walks paths in sorted order, which strays a little from the order briefs
        # were added (and blocks filled) in; with one cached block, restoring 600 kernel docs
        # inflated their 11 blocks 50 times
        self._cache = _LastBlocks()
        self._cache_version = -1  # SQLite's data_version the cached blocks were read at
        # the newest content id before the batch being written, and the raw bytes it wrote
        # (see maybe_train_dictionary)
        self._newest_before = 0
        self._written_raw = 0
        # blocks of coming batches, compressed ahead in the worker thread (see compress_ahead)
        self._ahead: deque[_Ahead] = deque()
        self._training: _Training | None = None  # the first dictionary's, in the worker
        self._rewrite: _Rewrite | None = None  # the blocks stored while it trained, redone
        self._unreported = 0  # bytes the last rewrite added, stored by maybe_train

    # -- dictionaries --------------------------------------------------------------------

    def dictionary(self) -> tuple[int, bytes] | None:
        """The newest dictionary, which new blocks are compressed with."""
        row = self.db.one("SELECT id, data FROM dicts ORDER BY id DESC LIMIT 1")
        return (int(row[0]), bytes(row[1])) if row else None

    def dictionaries(self) -> dict[int, bytes]:
        return {int(i): bytes(d) for i, d in self.db.query("SELECT id, data FROM dicts")}

    def maybe_train_dictionary(self, background: bool = False) -> None:
        """Once enough briefs exist, train a zstd dictionary on them. It is kept when it beats
        its own size on briefs compressed one by one (what the small blocks of a nightly add
        look like); existing blocks are recompressed with it where that makes them smaller.
        The caller holds a write transaction.

        When, with no state kept between runs: first in the batch that takes the stored text
        past DICT_TRIGGER_BYTES (with at least DICT_MIN_SAMPLES contents); after a rejection,
        again only in a batch that takes the newest content id past DICT_MIN_SAMPLES times a
        power of two (64, 128, 256, ...), i.e. once the archive has doubled. Before, each
        process (each nightly add) trained again in its first batch once a dictionary had been
        rejected (~0.3-1.7 s). Summing the text is a scan of `contents`: it runs at every
        batch only below SUM_EVERY_BATCH_BELOW contents, else at the power-of-two batches
        (so text that needs more contents than that to reach the trigger, briefs < 48 B on
        average, is first tried at the next one).

        With `background`, the training runs in the worker thread while the caller goes on
        with the next batches, and `settle` stores its outcome (see _Training)."""
        if self._training is not None:
            return  # one runs in the worker (see _Training); after a rejection, the next
            # try is at the first power of two after the batch that settles it
        db = self.db
        newest = rows.next_id(db, "contents") - 1
        doubled = _doubled(self._newest_before, newest)
        if not doubled and newest >= SUM_EVERY_BATCH_BELOW:
            return
        (count, raw), = db.query("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM contents")
        if count < codec.DICT_MIN_SAMPLES or raw < DICT_TRIGGER_BYTES:
            return  # cheap: no block is inflated until training can happen
        if not doubled and raw - self._written_raw >= DICT_TRIGGER_BYTES:
            return  # tried when the text passed the trigger, and rejected
        # the training runs in the worker thread while this one goes on with the next batches
        # (see _Training); the compressions queued ahead wait until it is settled. Blocks a
        # rejected training's batches stored quick are stored as they should be first
        self._unreported += self._store_rewrite(wait=True)
        self._pause_ahead()
        blocks = db.query("SELECT id, size, CAST(data AS BLOB) FROM blocks "
                          "WHERE dict_id IS NULL ORDER BY id LIMIT 64")
        inflated = [codec.decompress(bytes(d), int(n)) for _, n, d in blocks]
        samples: list[bytes] = []
        taken = 0  # a running sum: summing the samples per sample made this quadratic
        for (block_id, _, _), body in zip(blocks, inflated, strict=True):
            for offset, size in db.query("SELECT block_offset, size FROM contents "
                                         "WHERE block = ?", (block_id,)):
                if taken < DICT_TRAINING_BYTES:
                    samples.append(body[offset:offset + size])
                    taken += len(samples[-1])
        self._training = _Training([tuple(b) for b in blocks], _worker().submit(
            _trial, samples, inflated))
        if not background:
            self.settle(wait=True)

    def settle(self, wait: bool = False) -> int:
        """Store the outcome of a training the worker has finished (or, with `wait`, is
        running), in the caller's write transaction: the dictionary if it is kept, the
        blocks it was trained on recompressed with it where that makes them smaller; and
        have the worker compress the blocks written meanwhile as they would have been had
        it been settled in its batch (after the batches ahead: a later batch, or `wait`,
        stores them). Returns how many bytes that added to the blocks (negative: saved)."""
        added, self._unreported = self._store_rewrite(wait) + self._unreported, 0
        training = self._training
        if training is None or not (wait or training.outcome.done()):
            return added
        self._training = None
        dictionary, smaller = training.outcome.result()
        dict_id = None
        if dictionary is not None:
            dict_id = rows.next_id(self.db, "dicts")
            rows.put(self.db, "dicts", (dict_id, dictionary))
            for (block_id, size, frame), recompressed in zip(training.blocks, smaller,
                                                             strict=True):
                if len(recompressed) < len(frame):
                    rows.put(self.db, "blocks", (block_id, dict_id, size, recompressed))
        self._cache.clear()
        self._resume_ahead()
        if training.meanwhile:
            self._rewrite = _Rewrite(training.meanwhile, dict_id, dictionary, _worker().submit(
                _compress, [body for _, body, _ in training.meanwhile], dictionary))
        return added + self._store_rewrite(wait)

    @property
    def unsettled(self) -> bool:
        """Whether a training or its rewrite is still to be stored (see settle)."""
        return self._training is not None or self._rewrite is not None

    def _store_rewrite(self, wait: bool) -> int:
        """Store the blocks the worker compressed again after a training (see settle) once
        it has (or, with `wait`, now); returns the bytes that added."""
        rewrite = self._rewrite
        if rewrite is None or not (wait or rewrite.frames.done()):
            return 0
        self._rewrite = None
        bodies = [body for _, body, _ in rewrite.blocks]
        frames = _shared(_compress, bodies, rewrite.dictionary) if rewrite.frames.cancel() \
            else rewrite.frames.result()
        for (block_id, body, _), frame in zip(rewrite.blocks, frames, strict=True):
            rows.put(self.db, "blocks", (block_id, rewrite.dict_id, len(body), frame))
        self._cache.clear()
        return sum(map(len, frames)) - sum(quick for _, _, quick in rewrite.blocks)

    # -- writing -------------------------------------------------------------------------

    def write(self, items: list[tuple[bytes, bytes]]) -> tuple[dict[bytes, tuple[int, int]], int]:
        """Pack (sha, bytes) into new solid blocks with the newest dictionary; returns where
        each sha went (block id, offset) and the compressed bytes written. The caller holds a
        write transaction."""
        pending = self.start(items)
        return pending.placed, pending.finish()

    def start(self, items: list[tuple[bytes, bytes]]) -> Pending:
        """`write` in two halves: where each sha goes is known at once, the blocks are
        compressed in a worker thread meanwhile (zstd runs without the GIL), and
        `Pending.finish` writes them, in the same transaction, after the caller's other rows.
        On two cores the compression then overlaps the catalogue, the lexical index and the
        vectors of the batch; and when `compress_ahead` was given these items, it started
        before the batch did."""
        self._newest_before = rows.next_id(self.db, "contents") - 1
        self._written_raw = sum(len(data) for _, data in items)
        dictionary = self.dictionary()
        dict_id = dictionary[0] if dictionary else None
        training = self._training
        ahead = self._take_ahead([digest for digest, _ in items], dict_id) if items else None
        if training is not None:
            ahead = None  # compressed before the training began: its dictionary may change
        groups = ahead.groups if ahead else _groups(items)
        first_id = rows.next_id(self.db, "blocks")
        placed = {digest: (first_id + k, offset)
                  for k, group in enumerate(groups) for digest, offset in group[1]}
        bodies = [body for body, _ in groups]
        frames: Future[list[bytes]] | None = ahead.frames if ahead else None
        if bodies and training is not None:
            # the worker trains the first dictionary: a quick valid frame now, the real one
            # when the training is settled (what it costs: ~0.2 ms a block)
            quick = [_quick(body) for body in bodies]
            training.meanwhile += [(first_id + k, body, len(frame)) for k, (body, frame)
                                   in enumerate(zip(bodies, quick, strict=True))]
            frames = _future()
            frames.set_result(quick)
        elif bodies and frames is None:
            frames = _worker().submit(_compress, bodies, dictionary[1] if dictionary else None)
        return Pending(self.db, placed, first_id, dict_id, dictionary[1] if dictionary else None,
                       bodies, frames, self._help)

    def compress_ahead(self, items: list[tuple[bytes, bytes]]) -> None:
        """Start compressing, in the worker thread, the blocks that `start` will be given
        these (sha, bytes) for, in this order, with the newest dictionary: on two cores the
        compression then also overlaps what the caller does between batches (reading and
        encoding the next briefs), not only the batch's own rows. Calls are matched to
        `start`'s in order; one that does not match (or whose dictionary has changed since)
        is dropped, and `start` compresses as without it: the same frames either way."""
        dictionary = self.dictionary()
        groups = _groups(items)
        if not groups:
            return
        ahead = _Ahead([digest for digest, _ in items], groups, None, None)
        if self._training is None and (dictionary or not self._training_ahead()):
            ahead.compress(dictionary)  # else once the training is settled (_resume_ahead)
        ahead.raw = sum(len(data) for _, data in items)
        self._ahead.append(ahead)

    def _training_ahead(self) -> bool:
        """Whether a batch already ahead will train the first dictionary (its stored text
        passes DICT_TRIGGER_BYTES): what comes after it would be compressed without the
        dictionary for nothing. Only for young archives (see SUM_EVERY_BATCH_BELOW)."""
        if rows.next_id(self.db, "contents") > SUM_EVERY_BATCH_BELOW:
            return False
        (raw,), = self.db.query("SELECT COALESCE(SUM(size), 0) FROM contents")
        return int(raw) < DICT_TRIGGER_BYTES <= int(raw) + sum(a.raw for a in self._ahead)

    def drop_ahead(self) -> None:
        """Forget the blocks compressed ahead and cancel those not started (an add that
        stops early: the worker would otherwise compress them before the process exits)."""
        while self._ahead:
            self._ahead.popleft().cancel()
        if self._training is not None:  # its quick blocks stay, valid, as they were committed
            self._training.outcome.cancel()
            self._training = None
        if self._rewrite is not None:
            self._rewrite.frames.cancel()
            self._rewrite = None

    def _take_ahead(self, digests: list[bytes], dict_id: int | None) -> _Ahead | None:
        while self._ahead:
            ahead = self._ahead.popleft()
            if ahead.digests == digests:
                if ahead.dict_id == dict_id and ahead.frames and not ahead.frames.cancelled():
                    return ahead
                ahead.cancel()
                return None
            ahead.cancel()  # the caller stored something else: not coming
        return None

    def _pause_ahead(self) -> None:
        """Cancel the compressions ahead that have not started (their entries stay)."""
        for ahead in self._ahead:
            ahead.cancel()

    def _resume_ahead(self) -> None:
        """Compress again, with the newest dictionary, every entry ahead that was cancelled
        or compressed with another."""
        dictionary = self.dictionary()
        dict_id = dictionary[0] if dictionary else None
        for ahead in self._ahead:
            if ahead.frames is None or ahead.frames.cancelled() or ahead.dict_id != dict_id:
                ahead.compress(dictionary)

    def _help(self) -> bool:
        """Compress here the first batch ahead the worker has not started (this thread would
        otherwise wait for the worker): False when there is none."""
        for ahead in self._ahead:
            if ahead.frames is not None and not ahead.frames.done() and ahead.frames.cancel():
                done: Future[list[bytes]] = _future()
                done.set_result(_compress([body for body, _ in ahead.groups],
                                          ahead.dictionary))
                ahead.frames = done
                return True
        return False

    def rewrite(self, block_id: int) -> None:
        """Recompress a block with only the contents that still live in it (or delete it)."""
        db = self.db
        columns = ", ".join(rows.COLUMNS["contents"])
        members = db.query(f"SELECT {columns} FROM contents WHERE block = ? "
                           "ORDER BY block_offset", (block_id,))
        if not members:
            db.execute("DELETE FROM blocks WHERE id = ?", (block_id,))
            return
        dicts = self.dictionaries()
        raw, problem = self.inflate(block_id, dicts)
        if problem:
            raise IntegrityError(f"cannot rewrite a damaged block ({problem}); "
                                 "run `briefmin verify`")
        (dict_id,), = db.query("SELECT dict_id FROM blocks WHERE id = ?", (block_id,))
        kept: list[bytes] = []
        moved: list[tuple[object, ...]] = []
        position = 0
        for member in members:
            offset, size = member[4], member[2]
            moved.append((*member[:4], position, *member[5:]))
            kept.append(raw[offset:offset + size])
            position += size
        body = b"".join(kept)
        rows.put(db, "blocks", (block_id, dict_id, len(body),
                                codec.compress(body, _dict(dicts, dict_id), checksum=False)))
        rows.put_many(db, "contents", moved)
        self._cache.clear()

    # -- reading -------------------------------------------------------------------------

    def read_content(self, content_id: int, dicts: dict[int, bytes] | None = None, *,
                     check_row: bool = True) -> bytes:
        """The original bytes of a stored content, checked against its sha256."""
        self._drop_stale_blocks()
        try:
            # lenient: a cell of the wrong type is then the message below, not SQLite's
            row = self.db.one(f"SELECT {_CONTENT_COLUMNS} FROM contents WHERE id = ?",
                              (content_id,), lenient=True)
        except ArchiveError as exc:
            raise IntegrityError(f"stored item {content_id} cannot be read ({exc})") from exc
        if row is None:
            raise IntegrityError(f"stored item {content_id} is missing")
        return self._bytes(row, dicts if dicts is not None else self.dictionaries(),
                           check_row)

    def read_many(self, content_ids: Iterable[int]
                  ) -> Iterator[tuple[int, bytes | IntegrityError]]:
        """The bytes of many contents, or why each cannot be read, in the order they lie in
        their blocks: one catalogue read, each block inflated once (a restore of everything
        would otherwise query and inflate per brief).

        Each brief's bytes are checked against its sha256, as `read_content` does; the rows'
        and blocks' own checksums are left to verify. The sha256 is the stronger proof (the
        bytes themselves, 256 bits, against a 32-bit checksum of the catalogue row and a
        64-bit one of the compressed block, which would need both checking to cover offset and
        size), and the cheaper: hashlib runs in C at ~1 GB/s, a row checksum is Python."""
        located = self.locate(content_ids)
        yield from self.read_located(located.rows, self.dictionaries())
        for missing in located.missing:
            yield missing, IntegrityError(f"stored item {missing} is missing")

    def locate(self, content_ids: Iterable[int]) -> Located:
        """Where these contents lie, in block order (`read_many` in two halves: a restore
        splits the rows between two processes)."""
        self._drop_stale_blocks()
        wanted = set(content_ids)
        # the cell types are checked in SQL: rows of the expected types (all of them, but in
        # a damaged archive) take the short path of read_located, the rest `_bytes`, which
        # says why. Sorted in SQL too (a sort key in Python cost 3x as much). The sha256 is
        # read as a blob: one whose type flipped to text fails only its own row, not the scan
        found = [row for row in self.db.iterate(
            "SELECT id, CAST(sha256 AS BLOB), size, block, block_offset, "
            "typeof(sha256) = 'blob' AND "
            "typeof(size) = 'integer' AND typeof(block) = 'integer' AND "
            "typeof(block_offset) = 'integer' FROM contents ORDER BY block, block_offset")
            if row[0] in wanted]
        # ids are unique: as many rows as ids asked for means none is missing
        missing = wanted - {row[0] for row in found} if len(found) < len(wanted) else set()
        return Located(found, sorted(missing))

    def frames(self, block_ids: Iterable[int]) -> dict[int, tuple[Any, ...]]:
        """These blocks' rows, (dict_id, size, compressed frame) by id, in one query per
        _FRAME_PARAMETERS blocks: `read_located` given them runs no query, as a forked
        process must not (it may not use its parent's SQLite connection)."""
        wanted = sorted(set(block_ids))
        out: dict[int, tuple[Any, ...]] = {}
        for start in range(0, len(wanted), _FRAME_PARAMETERS):
            part = wanted[start:start + _FRAME_PARAMETERS]
            for row in self.db.query("SELECT id, dict_id, size, CAST(data AS BLOB) FROM "
                                     f"blocks WHERE id IN ({','.join('?' * len(part))})",
                                     part):
                out[row[0]] = tuple(row[1:])
        return out

    def _drop_stale_blocks(self) -> None:
        """Forget the cached blocks once another connection has committed: its garbage
        collection re-packs blocks under the same ids (a long-lived reader then read another
        block's bytes and called a good brief damaged). Checked once per read call, not per
        block: a PRAGMA costs a few microseconds."""
        (version,), = self.db.query("PRAGMA data_version")
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = int(version)

    def read_located(self, found: Sequence[Sequence[Any]], dicts: dict[int, bytes],
                     frames: dict[int, tuple[Any, ...]] | None = None
                     ) -> Iterator[tuple[int, bytes | IntegrityError]]:
        """The bytes of `locate`'s rows (or a run of them), sha256-checked, or why each
        cannot be read. Given `frames`, their blocks are read from it alone."""
        sha256 = codec.sha256
        current, raw, problem = None, b"", None
        for content_id, digest, size, block_id, offset, typed in found:
            if not typed:
                try:
                    yield content_id, self.read_content(content_id, dicts, check_row=False)
                except IntegrityError as exc:
                    yield content_id, exc
                continue
            if block_id != current:
                try:
                    row = None
                    if frames is not None:  # and nothing else: no query
                        row = frames.get(block_id)
                        if row is None:
                            raise IntegrityError(f"block {block_id} is missing")
                    raw, problem = self.inflate(block_id, dicts, row)
                except IntegrityError as exc:
                    raw, problem = b"", str(exc)
                current = block_id
            end = offset + size
            if not 0 <= offset <= end <= len(raw):
                # past the damage in a damaged block (briefs before it are still readable)
                yield content_id, IntegrityError(problem or "stored item lies outside its "
                                                 "block")
                continue
            data = raw[offset:end]
            if sha256(data) != digest:
                yield content_id, IntegrityError("stored item does not match its sha256")
                continue
            yield content_id, data

    def _bytes(self, row: Sequence[Any], dicts: dict[int, bytes], check_row: bool = True
               ) -> bytes:
        content_id = row[0]
        if check_row and self.db.checksummed and row[-1] != rows.row_sum("contents", row[:-1]):
            raise IntegrityError(f"the catalogue entry of stored item {content_id} is "
                                 "damaged (checksum)")
        _, sha, size, block_id, offset, _, _, dict_id, blob = row[:-1]
        # a damaged or hostile archive may hold any type in a cell
        check_cells((sha, size, dict_id, blob, block_id, offset),
                    (bytes, int, INT_OR_NONE, BYTES_OR_NONE, INT_OR_NONE, INT_OR_NONE),
                    f"stored item {content_id}")
        if block_id is not None:
            raw, problem = self.inflate(int(block_id), dicts)
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

    def inflate(self, block_id: int, dicts: dict[int, bytes],
                row: Sequence[Any] | None = None) -> tuple[bytes, str | None]:
        """A solid block inflated (bounded by its recorded size), with the problem if it is
        damaged: then the bytes are what precedes the damage. `row`: its row from `frames`,
        read already."""
        cached = self._cache.get(block_id)
        if cached is not None:
            return cached
        try:
            if row is None:
                row = self.db.one("SELECT dict_id, size, CAST(data AS BLOB) FROM blocks "
                                  "WHERE id = ?", (block_id,))
        except ArchiveError as exc:
            raise IntegrityError(f"block {block_id} cannot be read ({exc})") from exc
        if row is None:
            raise IntegrityError(f"block {block_id} is missing")
        dict_id, size, blob = row
        check_cells(row, (INT_OR_NONE, int, bytes), f"block {block_id}")
        raw, problem = codec.inflate(blob, size, _dict(dicts, dict_id))
        self._cache.put(block_id, (raw, problem))
        return raw, problem

    def orphaned(self) -> int:
        """Blocks no content lives in."""
        return len(self.db.query("SELECT id FROM blocks WHERE id NOT IN "
                                 "(SELECT block FROM contents WHERE block IS NOT NULL)"))

    def totals(self) -> dict[str, int]:
        (blocks, block_bytes), = self.db.query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM blocks")
        (dict_bytes, dicts), = self.db.query(
            "SELECT COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM dicts")
        return {"blocks": blocks, "block_bytes": block_bytes, "dict_bytes": dict_bytes,
                "dictionaries": dicts}


def _doubled(before: int, newest: int) -> bool:
    """Whether (before, newest] holds DICT_MIN_SAMPLES times a power of two."""
    boundary = codec.DICT_MIN_SAMPLES
    while boundary <= before:
        boundary *= 2
    return boundary <= newest


def _dict(dicts: dict[int, bytes], dict_id: int | None) -> bytes | None:
    if dict_id is None:
        return None
    if dict_id not in dicts:
        raise IntegrityError(f"stored item needs dictionary {dict_id}, which is missing")
    return dicts[dict_id]


def _groups(items: list[tuple[bytes, bytes]]) -> list[tuple[bytes, list[tuple[bytes, int]]]]:
    """Group (sha, bytes) in order into solid blocks of about BLOCK_BYTES: (body, [(sha,
    offset)]) each. Folder order keeps similar briefs together, which is what makes a solid
    block compress well."""
    groups: list[list[tuple[bytes, bytes]]] = [[]]
    size = 0
    for digest, data in items:
        if groups[-1] and size + len(data) > BLOCK_BYTES:
            groups.append([])
            size = 0
        groups[-1].append((digest, data))
        size += len(data)
    out = []
    for group in filter(None, groups):
        offsets = list(itertools.accumulate((len(data) for _, data in group), initial=0))
        out.append((b"".join(data for _, data in group),
                    [(digest, offset)
                     for (digest, _), offset in zip(group, offsets[:-1], strict=True)]))
    return out


def _compress(bodies: list[bytes], dictionary: bytes | None) -> list[bytes]:
    return [codec.compress(body, dictionary, checksum=False) for body in bodies]


def _quick(body: bytes) -> bytes:
    """A block's frame at zstd's fastest level, without a dictionary: what a batch stores
    while the first dictionary trains (settle replaces it)."""
    import zstandard

    return zstandard.ZstdCompressor(level=1, write_checksum=False).compress(body)


def _trial(samples: list[bytes], blocks: list[bytes]
           ) -> tuple[bytes | None, list[bytes]]:
    """In the worker: a dictionary trained on `samples`, kept when it beats its own size on
    briefs compressed one by one (what the small blocks of a nightly add look like), and
    `blocks` compressed with it; or (None, [])."""
    probe = samples[:: max(1, len(samples) // 200)]
    dictionary = codec.train_dictionary(samples)
    if dictionary is None:
        return None, []
    gain = sum(map(len, _compress_each(probe, None))) - \
        sum(map(len, _compress_each(probe, dictionary)))
    if gain * len(samples) / len(probe) <= len(dictionary):
        return None, []
    return dictionary, _compress(blocks, dictionary)


def _compress_each(briefs: list[bytes], dictionary: bytes | None) -> list[bytes]:
    """Frames of single briefs, as the dictionary's probe compresses them."""
    return [codec.compress(brief, dictionary) for brief in briefs]


def _shared(work: Callable[[list[bytes], bytes | None], list[bytes]], items: list[bytes],
            dictionary: bytes | None) -> list[bytes]:
    """`work(items, dictionary)` shared by the worker thread (the odd items) and this one (the
    even ones), in order: zstd runs without the GIL, so two cores both compress."""
    theirs = _worker().submit(work, items[1::2], dictionary)
    out = work(items[::2], dictionary)
    merged: list[bytes] = [b""] * len(items)
    merged[::2], merged[1::2] = out, _done(theirs, work, items[1::2], dictionary)
    return merged


def _done(future: Future[list[bytes]],
          work: Callable[[list[bytes], bytes | None], list[bytes]], items: list[bytes],
          dictionary: bytes | None) -> list[bytes]:
    """`future`'s result, `work(items, dictionary)`; done here if the worker has not started
    it (it is busy with blocks compressed ahead) rather than waited for."""
    return work(items, dictionary) if future.cancel() else future.result()


def _future() -> Future[list[bytes]]:
    from concurrent.futures import Future

    return Future()


# one thread, started by the first write, per process: a forked child inherits the pool but
# not its thread (work submitted there would wait forever), so it starts its own
_WORKER: dict[int, ThreadPoolExecutor] = {}


def _worker() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    pid = os.getpid()
    if pid not in _WORKER:
        _WORKER.clear()
        _WORKER[pid] = ThreadPoolExecutor(1, thread_name_prefix="briefmin-zstd")
    return _WORKER[pid]


@dataclass
class _Training:
    """The first dictionary, trained in the worker thread (~0.2-0.3 s, the main thread's
    largest one-off cost of a new archive) while the main thread stores the next batches.
    Those batches' blocks are written at once as quick frames (valid, readable, larger);
    once it is settled, the worker compresses them again as they would have been had the
    training run in its own batch, and a later batch rewrites them (see settle): the same
    frames, dictionary and catalogue, a few batches later. An add killed before that keeps
    its quick blocks."""

    blocks: list[tuple[Any, ...]]  # (id, size, frame) of the blocks it is trained on
    outcome: Future[tuple[bytes | None, list[bytes]]]  # see _trial
    meanwhile: list[tuple[int, bytes, int]] = field(default_factory=list)
    # ^ (id, body, quick frame's length) of the blocks written since


@dataclass
class _Rewrite:
    """The blocks stored while the first dictionary trained, compressed again in the worker
    as they would have been had the training been settled in its batch."""

    blocks: list[tuple[int, bytes, int]]  # (id, body, quick frame's length)
    dict_id: int | None
    dictionary: bytes | None
    frames: Future[list[bytes]]


@dataclass
class _Ahead:
    """A coming batch's blocks, compressed ahead (see Blocks.compress_ahead)."""

    digests: list[bytes]  # the shas `start` must be given, in order, to take these frames
    groups: list[tuple[bytes, list[tuple[bytes, int]]]]  # as _groups made them
    dict_id: int | None
    frames: Future[list[bytes]] | None
    dictionary: bytes | None = None  # dict_id's
    raw: int = 0  # bytes of its briefs

    def compress(self, dictionary: tuple[int, bytes] | None) -> None:
        """Have the worker compress the blocks with this (id, dictionary)."""
        self.dict_id, self.dictionary = dictionary if dictionary else (None, None)
        self.frames = _worker().submit(_compress, [body for body, _ in self.groups],
                                       self.dictionary)

    def cancel(self) -> None:
        if self.frames is not None:
            self.frames.cancel()


@dataclass
class Pending:
    """New blocks whose places are given out and whose frames are being compressed."""

    db: Connection
    placed: dict[bytes, tuple[int, int]]  # sha -> (block id, offset)
    first_id: int
    dict_id: int | None
    dictionary: bytes | None  # dict_id's
    bodies: list[bytes]
    frames: Future[list[bytes]] | None
    help: Callable[[], bool]  # compresses a batch ahead here, if the worker has not started one

    def finish(self) -> int:
        """Write the blocks (waiting for their compression); returns their bytes. When the
        worker is behind (on earlier batches compressed ahead), this thread compresses instead
        of waiting: these blocks if the worker has not started them, else coming batches'
        until it is done with them; both cores then compress."""
        if self.frames is None:
            return 0
        if self.frames.cancel():
            frames = _compress(self.bodies, self.dictionary)
        else:
            while not self.frames.done() and self.help():
                pass
            frames = self.frames.result()
        self.frames = None
        for k, (body, frame) in enumerate(zip(self.bodies, frames, strict=True)):
            rows.put(self.db, "blocks", (self.first_id + k, self.dict_id, len(body), frame))
        return sum(map(len, frames))
