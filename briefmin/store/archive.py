"""`Archive`: the archive file as a whole, a thin facade over the store's parts (connection,
schema, catalogue, blocks, segments). It keeps no knowledge of models: the add pipeline
(briefmin.ingest) encodes, then hands rows to `store_batch`.

An archive is one SQLite file (see schema.py): original bytes zstd-compressed in solid blocks
and addressed by sha256, one row per (path, version), and the quantized vectors in column
segments. Every change happens in a transaction, so a killed run leaves the archive as of its
last commit."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import forked
from ..errors import (
    VERIFY_ADVICE,
    ArchiveError,
    BriefminError,
    IntegrityError,
    InterruptedAfterCommit,
    ModelError,
    UsageError,
    WriteFailedError,
    printable,
)
from ..locking import WriterLock
from ..modelid import BUNDLED_MODEL, CHUNK_OVERLAP_TOKENS, normalize_model_id
from ..safewrite import FolderWriter, check_names, refuse_existing, safe_parts
from ..text import decode_text
from . import catalogue, connection, lexical, schema, segments
from . import snapshots as snaps
from .blocks import Blocks
from .catalogue import BriefRecord
from .schema import PROFILES, Meta
from .segments import BRIEF_KINDS, SEARCH_KINDS, BriefVectors, Rows, StoredVectors
from .snapshots import Snapshot

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ..quantize import Floats
    from .tiers import TierReport
    from .verify import VerifyReport


@dataclass
class NewContent:
    """A content to store with a batch: its bytes, how they were decoded, its vectors, and
    the text they decode to when the caller has it (else the batch decodes them again)."""

    data: bytes
    encoding: str
    vectors: BriefVectors
    text: str | None = None


@dataclass
class BatchResult:
    stored: list[tuple[int, int]] = field(default_factory=list)  # (batch position, version)
    unchanged: int = 0  # briefs whose path got the same bytes meanwhile
    bytes_stored: int = 0  # compressed bytes of the new blocks


# restores of fewer contents stay in one process (forking and waiting cost a few ms), and the
# second process is handed at most this many blocks' frames (~0.25 MB each, compressed)
SPLIT_FROM_CONTENTS = 2000
SPLIT_MAX_BLOCKS = 512
# the share of the rows the child writes (see _split)
CHILD_SHARE = 0.53
# the share of the blocks the child reads and writes in _restore_halves
UPPER_SHARE = 0.5

# raw bytes of briefs `in_order` reads at a time (`restore --stdout`)
ORDER_WINDOW_BYTES = 8 * 1024 * 1024

# records_of_contents calls after which a reader keeps every record in memory: each call
# scans `briefs` twice (~4 ms per 20k briefs), reading them all once costs about ten calls
HOLDERS_AFTER = 4


class Archive:
    """A briefmin archive. Open with `Archive.open(path)` (read-only) or
    `Archive.open(path, write=True, create=True)`; use as a context manager."""

    def __init__(self, path: str, db: connection.Connection, lock: WriterLock | None) -> None:
        self.path = path
        self._db = db
        self._lock = lock
        self._blocks = Blocks(db)
        self._lexical_grew = False  # release_free_pages then merges the index
        self._lookup: catalogue.Lookup | None = None  # a writer's, read at its first need
        # a reader's records by content, once it looked up a batch: (data_version, them)
        self._holders: tuple[int, catalogue.Holders] | None = None
        self._holder_calls = 0

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, write: bool = False, create: bool = False,
             model: str | None = None, profile: str | None = None,
             wait: float | None = 3600.0, on_wait: Callable[[], None] | None = None
             ) -> Archive:
        """Open an archive. `create` makes a missing one, recording `model` (default: the
        bundled all-MiniLM-L6-v2) and `profile` (see PROFILES; default "default"). Writers
        take a whole-run lock, waiting up to `wait` s; `on_wait` hears when they wait for it,
        or for readers to let go of the file at a commit."""
        path = os.fspath(path)
        if profile is not None and profile not in PROFILES:
            raise UsageError(f"unknown profile {profile!r}; choose one of "
                             f"{', '.join(PROFILES)}")
        while True:
            if create and not os.path.lexists(path):
                connection.create(path, {
                    "model_id": normalize_model_id(model or BUNDLED_MODEL), "dim": 0,
                    "int8_step": 0.0, "chunk_tokens": 0,
                    "chunk_overlap": CHUNK_OVERLAP_TOKENS,
                    "rescore_bits": PROFILES[profile or "default"], "created_at": _now()})
            connection.check_header(path)
            lock = WriterLock(path, wait, on_wait) if write else None
            if lock is None or lock.holds(path):
                break
            # the file we waited on went while we waited (a run that created it failed
            # and removed it, or it was replaced): start again with what the path names now
            lock.release()
        try:
            db = connection.connect(path, write, wait)
            db.on_busy = on_wait
        except BaseException:
            if lock:
                lock.release()
            raise
        archive = cls(path, db, lock)
        try:
            if write:
                archive._backfill_lexical()
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
        self._blocks.drop_ahead()
        self._db.close()
        if self._lock:
            self._lock.release()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata ------------------------------------------------------------------------

    @property
    def meta(self) -> Meta:
        return schema.read_meta(self._db)

    def check_model(self, model: str) -> None:
        """Refuse to mix vectors of another model into (or query) this archive."""
        wanted, have = normalize_model_id(model), self.meta.model_id
        if wanted != have:
            raise ModelError(f"{self.path} was made with model {have!r}, not {wanted!r}; "
                             "vectors of different models cannot be compared")

    def check_dim(self, model_id: str, dim: int) -> None:
        """Refuse a model whose vectors have another length than the stored ones."""
        have = self.meta.dim
        if have and dim != have:
            raise ModelError(f"model {model_id!r} gives {dim}-d vectors but {self.path} holds "
                             f"{have}-d ones")

    # -- writing (briefmin.ingest drives these) -------------------------------------------

    def latest_digests(self) -> dict[str, bytes]:
        """The sha256 of each path's latest version."""
        if self._lock is None:
            return catalogue.latest_digests(self._db)
        return {path: digest for path, (_, digest) in self._lookups().latest.items()}

    def has_content(self, digest: bytes) -> bool:
        return bool(self.stored_contents([digest]))

    def stored_contents(self, digests: Iterable[bytes]) -> set[bytes]:
        """Which of these sha256 are stored (a reader scans the catalogue for them)."""
        if self._lock is None:
            return set(catalogue.content_ids(self._db, digests))
        return set(self._lookups().content_ids(digests))

    def _lookups(self) -> catalogue.Lookup:
        """The writer's map of paths and sha256s (see catalogue.Lookup)."""
        self._require_writer()
        if self._lookup is None:
            self._lookup = catalogue.Lookup(self._db)
        return self._lookup

    def compress_ahead(self, contents: list[tuple[bytes, bytes]]) -> None:
        """Start compressing the blocks of a coming `store_batch`, whose new contents are
        these (sha256, bytes) in this order; calls are matched to store_batch's in order
        (see Blocks.compress_ahead: a miss costs nothing but the work)."""
        self._require_writer()
        self._blocks.compress_ahead(contents)

    def store_batch(self, batch: Sequence[tuple[str, bytes]],
                    new: Mapping[bytes, NewContent], chunk_tokens: int) -> BatchResult:
        """In one transaction: the new contents (solid blocks, catalogue rows, vectors) and a
        brief row per (path, sha256) of `batch`, as the path's next version. `chunk_tokens`
        is recorded with the first vectors."""
        lookup = self._lookups()
        result = BatchResult()
        with self._db.transaction() as db:
            # ids given here, rows written in one statement per table: a row at a time was
            # ~8 statements per brief (an id, a lookup and an insert each)
            ids = lookup.content_ids({digest for _, digest in batch} | set(new))
            # a changed brief whose bytes are stored already is linked to their row: checked
            catalogue.check_linked(db, {
                ids[digest]: (name, digest) for name, digest in batch
                if digest in ids and (lookup.latest.get(name) or (0, b""))[1] != digest},
                lookup.doubled)
            # a first dictionary the worker has trained meanwhile is stored before this
            # batch's blocks (Blocks.settle)
            result.bytes_stored = self._blocks.settle()
            # compressed in a worker thread while the rows below are made (blocks.start)
            blocks = self._blocks.start(
                [(digest, content.data) for digest, content in new.items()])
            placed = blocks.placed
            content_rows, texts = [], []
            inserted: list[tuple[int, BriefVectors]] = []
            next_content = lookup.next_content(db)
            for digest, content in new.items():
                if digest in ids:
                    continue  # stored meanwhile
                ids[digest] = next_content
                content_rows.append(catalogue.content_row(
                    next_content, digest, len(content.data), content.encoding,
                    segments.vector_count(content.vectors), *placed[digest]))
                inserted.append((next_content, content.vectors))
                texts.append((next_content, content.text if content.text is not None
                               else decode_text(content.data)[0]))
                next_content += 1
            catalogue.insert_contents(db, content_rows)
            if texts:
                # hook: the lexical index grows in the same transaction as the contents
                lexical.index(db, texts)
                self._lexical_grew = True
            now = catalogue.now()
            times = lookup.time_ids(db, [now])  # `briefs.added` names a row of `times`
            brief_rows = []
            next_brief = snaps.next_brief_id(db)
            versions: dict[str, tuple[int, bytes]] = {}  # noted in `lookup` once committed
            for position, (name, digest) in enumerate(batch):
                latest = versions.get(name) or lookup.latest.get(name)
                if latest and latest[1] == digest:
                    result.unchanged += 1
                    continue
                version = latest[0] + 1 if latest else 1
                versions[name] = (version, digest)
                brief_rows.append(catalogue.brief_row(next_brief, name, version, ids[digest],
                                                      times[now]))
                next_brief += 1
                result.stored.append((position, version))
            catalogue.insert_briefs(db, brief_rows)
            segments.append(db, Rows.of(inserted), chunk_tokens, CHUNK_OVERLAP_TOKENS)
            result.bytes_stored += blocks.finish()
            if not self._blocks.dictionary():
                self._blocks.maybe_train_dictionary(background=True)
        lookup.stored(ids, versions, times)
        return result

    def coarse_contents(self, digests: Iterable[bytes]) -> set[bytes]:
        """Which of these stored sha256 have vector rows `tier` made coarser than the
        archive's profile: a path whose new version holds one (a file reverted to old bytes,
        a copy of an old file) would be a latest version with coarse codes, which `tier`
        promises never to leave (`recode`). No scan of the segments unless some are tiered."""
        self._require_writer()
        coded = {seg for seg, bits in segments.code_bits(self._db).items()
                 if bits < self.meta.rescore_bits}
        if not coded:
            return set()
        ids = self._lookups().content_ids(digests)
        coarse = segments.contents_in(self._db, coded, set(ids.values()))
        return {digest for digest, content_id in ids.items() if content_id in coarse}

    def recode(self, vectors: Mapping[bytes, BriefVectors], chunk_tokens: int) -> None:
        """Give these stored contents new vector rows at the profile's codes in place of
        their coarse ones (`coarse_contents`), in one transaction."""
        ids = self._lookups().content_ids(vectors)
        with self._db.transaction() as db:
            segments.remove_contents(db, self.meta, set(ids.values()))
            segments.append(db, Rows.of([(ids[d], v) for d, v in vectors.items()]),
                            chunk_tokens, CHUNK_OVERLAP_TOKENS)

    def settle_blocks(self) -> int:
        """At the end of an add: store the first dictionary if the worker thread still trains
        it (see Blocks.settle); returns the bytes that added to the new blocks."""
        self._require_writer()
        if not self._blocks.unsettled:
            return 0
        with self._db.transaction():
            return self._blocks.settle(wait=True)

    def set_journal_mode(self, mode: str) -> None:
        """SQLite's journal for this archive's writes: "delete" (briefmin's) or "wal". Only
        bench/bench_commits.py, which compares them, changes it (see bench/RESULTS.md)."""
        self._require_writer()
        if mode not in ("delete", "wal"):
            raise UsageError(f"journal mode {mode!r}: use delete or wal")
        self._db.script(f"PRAGMA journal_mode = {mode}")

    def append_vectors(self, rows: Rows) -> None:
        """Vector rows without contents (benchmarks build large synthetic archives so)."""
        self._require_writer()
        with self._db.transaction() as db:
            segments.append(db, rows, 0, CHUNK_OVERLAP_TOKENS)

    def release_free_pages(self) -> str | None:
        """Give the pages freed by rewrites back to the file system, without a full VACUUM;
        first merge the lexical index if this run added to it (see lexical.optimize). Only
        tidying, after the run's commits: a write failure here (a full disk) is returned as
        its reason, not raised (an add that had committed every brief and its snapshot
        exited 3, "the archive is unchanged"). A later run does both again. So is a Ctrl-C
        here: the run is done (an add interrupted here exited 130 with its snapshot
        recorded, and a cron job that ran it again recorded the night twice)."""
        try:
            if self._lexical_grew:
                with self._db.transaction() as db:
                    lexical.optimize(db)
                self._lexical_grew = False
            (free,), = self._db.query("PRAGMA freelist_count")
            if free:  # (a run with nothing to give back writes nothing: a read-only file)
                self._db.script("PRAGMA incremental_vacuum;")
        except WriteFailedError as exc:
            return str(exc.__cause__)
        except ArchiveError as exc:
            # a damaged lexical index fails its merge: the run's commits stand all the same
            # (it exited 3, "archive is damaged", with the brief and its snapshot committed)
            return str(exc)
        except KeyboardInterrupt:
            return "interrupted"
        return None

    # -- reading -------------------------------------------------------------------------

    def records(self, selectors: Sequence[str] = (), *, version: int | None = None,
                all_versions: bool = False, snapshot: Snapshot | None = None
                ) -> list[BriefRecord]:
        """Briefs matching the selectors (paths, folders, globs, sha256 prefixes); no
        selector = every brief. Latest versions unless `version` or `all_versions`; with
        `snapshot`, the versions it holds."""
        with self._db.consistent():  # the snapshot's members and the catalogue: one state
            within = snaps.members(self._db, snapshot) if snapshot is not None else None
            return catalogue.records(self._db, selectors, version=version,
                                     all_versions=all_versions, within=within)

    def records_of_contents(self, content_ids: Iterable[int], *, all_versions: bool = False
                            ) -> dict[int, list[BriefRecord]]:
        """The briefs holding each of these contents (latest versions unless
        `all_versions`), looked up by id. A reader's first calls scan the catalogue; from
        the HOLDERS_AFTER-th on (a batch of queries) it reads every record once and keeps
        them until another connection changes the file (SQLite's data_version)."""
        holders = None
        if self._lock is None:  # a writer changes the catalogue itself: it never keeps them
            self._holder_calls += 1
            if self._holder_calls >= HOLDERS_AFTER:
                (changes,), = self._db.query("PRAGMA data_version")
                if self._holders is None or self._holders[0] != changes:
                    self._holders = (int(changes), catalogue.Holders(self._db))
                holders = self._holders[1]
        return catalogue.records_of_contents(self._db, content_ids, all_versions=all_versions,
                                             holders=holders)

    def paths_by_content(self, all_versions: bool = False, snapshot: Snapshot | None = None
                         ) -> dict[int, list[BriefRecord]]:
        """Which briefs (latest versions unless `all_versions`; with `snapshot`, the
        versions it holds) hold each content."""
        out: dict[int, list[BriefRecord]] = {}
        for record in self.records(all_versions=all_versions, snapshot=snapshot):
            out.setdefault(record.content_id, []).append(record)
        return out

    def read(self, record: BriefRecord) -> bytes:
        """The original bytes of a brief, checked against its sha256."""
        return self._blocks.read_content(record.content_id)

    def text(self, content_id: int) -> str:
        """The decoded text of a stored content, as the encoder saw it; a damaged one raises
        an IntegrityError that names a brief holding it (a search hit on it had said only
        "stored item does not match its sha256")."""
        try:
            return decode_text(self._blocks.read_content(content_id))[0]
        except IntegrityError as exc:
            self._raise_named(content_id, exc)

    def texts(self, content_ids: Iterable[int]) -> Iterator[tuple[int, str]]:
        """`text` of many contents, in the order they lie in their blocks (each inflated
        once); the first damaged one raises as `text` does. One scan of the catalogue: for
        a few contents of a big archive, `text` each is cheaper."""
        for content_id, data in self.contents(content_ids, on_damage=self._raise_named):
            yield content_id, decode_text(data)[0]

    def _raise_named(self, content_id: int, exc: IntegrityError) -> NoReturn:
        """Raise a damaged content's error naming a brief that holds it (one held by no
        brief, a prune's orphan, has no name to give)."""
        holders = catalogue.records_of_contents(self._db, [content_id]).get(content_id)
        if not holders:
            raise exc
        raise _naming(min(r.path for r in holders), exc, "read", more=len(holders) - 1,
                      archive=self.path) from exc

    def contents(self, content_ids: Iterable[int],
                 on_damage: Callable[[int, IntegrityError], None] | None = None
                 ) -> Iterator[tuple[int, bytes]]:
        """The original bytes of many stored contents, sha256-checked, in the order they lie
        in their blocks (each block inflated once, as restore reads); a damaged one raises
        its IntegrityError, or, with `on_damage`, is handed to it (with its id) and left
        out, so a caller can name every damaged brief."""
        for content_id, data in self._blocks.read_many(content_ids):
            if isinstance(data, IntegrityError):
                if on_damage is None:
                    raise data
                on_damage(content_id, data)
                continue
            yield content_id, data

    def in_order(self, records: Sequence[BriefRecord]) -> Iterator[tuple[BriefRecord, bytes]]:
        """Each record with its original bytes (sha256-checked), in the records' order, read
        a window of up to ORDER_WINDOW_BYTES at a time in block order (each block inflated
        once per window: reading one brief at a time was a query each), so memory stays
        bounded; a damaged one (its bytes, or its catalogue row: see
        catalogue.damaged_briefs) raises its error, naming the brief."""
        damaged = catalogue.damaged_briefs(self._db, records)
        start = 0
        while start < len(records):
            end, size = start, 0
            while end < len(records) and (end == start or size < ORDER_WINDOW_BYTES):
                size += records[end].size
                end += 1
            window = records[start:end]
            data: dict[int, bytes] = {}
            for content_id, found in self._blocks.read_many({r.content_id for r in window}):
                if isinstance(found, IntegrityError):
                    raise _naming(next(r.path for r in window if r.content_id == content_id),
                                  found) from found
                data[content_id] = found
            for record in window:
                if (record.path, record.version) in damaged:
                    raise _naming(record.path, _DAMAGED_ROW)
                yield record, data[record.content_id]
            start = end

    def restore(self, records: Sequence[BriefRecord], to: str | os.PathLike[str], *,
                force: bool = False) -> list[str]:
        """Write each brief under `to` at its archived path, byte-exact and sha256-checked;
        returns where each went. Never writes outside `to`, never through a symlink, never
        over a file without force. A brief whose catalogue row is damaged is not written
        (its name, version or content may not be its own): the others are, then its error
        is raised, as for a stored item that is missing."""
        damaged = catalogue.damaged_briefs(self._db, records)
        intact = [r for r in records if (r.path, r.version) not in damaged]
        located = self._blocks.locate({r.content_id for r in intact})
        holders: dict[int, list[str]] = {}
        for record in intact:
            holders.setdefault(record.content_id, []).append(record.path)
        rows, paths = [], []
        for row in located.rows:  # in block order: each block inflated once
            for path in holders[row[0]]:
                rows.append(row)
                paths.append(path)
        bad_rows = [(r.path, str(_DAMAGED_ROW)) for r in records
                     if (r.path, r.version) in damaged]
        try:
            self._restore(rows, paths, to, force)
        except RestoreDamaged as exc:  # every brief not written is named, whatever its damage
            raise RestoreDamaged.of([*bad_rows, *exc.damaged]) from exc
        if bad_rows:
            raise RestoreDamaged.of(bad_rows)
        if located.missing:
            raise IntegrityError(f"stored item {located.missing[0]} is missing")
        base = str(to)
        return [f"{base}/{record.path}" for record in records]

    def restore_selected(self, to: str | os.PathLike[str], selectors: Sequence[str] = (), *,
                         version: int | None = None, snapshot: Snapshot | None = None,
                         force: bool = False) -> int:
        """`restore(records(selectors, version=..., snapshot=...), to)` without a record per
        brief (catalogue.placed: one query, in block order); returns how many briefs were
        written."""
        with self.reading():  # the catalogue and the blocks it points at: one state
            within = snaps.members(self._db, snapshot) if snapshot is not None else None
            count = self._restore_chosen(to, selectors, version, snapshot, within, force)
            lost = snaps.lost_members(self._db, snapshot) \
                if snapshot is not None and not selectors else 0
        # every one it still lists is written first; then the versions it lost are named
        if lost and snapshot is not None:
            raise IntegrityError(f"snapshot {snapshot.id} holds {lost} brief version(s) whose "
                                 "catalogue rows are lost, so they could not be restored "
                                 f"(the other {count} were); run `briefmin verify`")
        return count

    def _restore_chosen(self, to: str | os.PathLike[str], selectors: Sequence[str],
                        version: int | None, snapshot: Snapshot | None,
                        within: Set[tuple[str, int]] | None, force: bool) -> int:
        if not selectors:
            count = self._restore_halves(Path(to), version, within)
            if count is not None:
                return count
        found = catalogue.placed(self._db, selectors, version=version, within=within)
        if found is None:  # a damaged row: records() raises the error that names it
            try:
                chosen = self.records(selectors, version=version, snapshot=snapshot)
            except catalogue.MissingContent as lost:  # the others first, as for a damaged row
                self.restore(lost.others, to, force=force)
                raise
            return len(self.restore(chosen, to, force=force))
        self._restore([row[:6] for row in found], [row[6] for row in found], to, force)
        return len(found)

    def _restore_halves(self, root: Path, version: int | None,
                        within: Set[tuple[str, int]] | None) -> int | None:
        """Every brief (of `version`, or `within`) into an empty folder, in two processes that
        each read their own half of the catalogue (catalogue.halves: the blocks on either side
        of a cut), check its names and write it, so that reading the catalogue overlaps too
        (~0.04 s of a restore's serial ~0.15 s, for 20,000 briefs). Neither writes before
        both halves passed their checks (forked.beside's `go`): a bad name on either side
        writes nothing. The child reads through a connection of its own, and this process
        holds a read transaction to the end, so both read one state of the archive. Returns
        how many briefs were written; None, with nothing written, where one read of the
        whole catalogue is needed (one core, another thread, a folder not empty, few briefs,
        a damaged row, a name twice; see catalogue.halves)."""
        if not forked.can_fork() or (within is not None and len(within) < SPLIT_FROM_CONTENTS):
            return None
        root.mkdir(parents=True, exist_ok=True)
        if not _empty(root):
            return None
        db, path = self._db, self.path
        # held until the child has exited, not only while it reads its half: its SQLite,
        # forked from this one, shares this process's lock bookkeeping for the file, so the
        # child's own reads take no lock and are covered by this transaction's alone
        with db.consistent():
            plan = catalogue.halves(db, UPPER_SHARE, SPLIT_FROM_CONTENTS)
            if plan is None:
                return None
            dicts = self._blocks.dictionaries()
            writer = FolderWriter(root, ArchiveError, exclusive=True)

            def child() -> tuple[Callable[[], None], int]:
                own = connection.connect(path, False, None)  # never the parent's connection
                return _half(own, Blocks(own), (plan, True), version, within, dicts, writer)

            try:
                with writer, forked.beside(child, ArchiveError) as go:
                    write, count = _half(db, self._blocks, (plan, False), version, within,
                                         dicts, writer)
                    count += go()
                    write()
            except _Unsound:  # raised before anything was written, on either side
                return None
        return count

    def _restore(self, rows: list[Any], paths: list[str], to: str | os.PathLike[str],
                 force: bool) -> None:
        """`restore` of these Blocks.locate rows in block order, each written at the path
        beside it (a content held under two names comes twice)."""
        root = Path(to)
        root.mkdir(parents=True, exist_ok=True)
        fresh = _empty(root)  # an empty target: no lstat per brief
        check_names(root, paths, ArchiveError)  # every name before anything is written
        if not force and not fresh:
            refuse_existing([root.joinpath(*safe_parts(root, path, ArchiveError))
                             for path in paths])
        # into an empty folder, each name once: created in place, as tar does (safewrite.py)
        exclusive = fresh and len(set(paths)) == len(paths)
        blocks = self._blocks
        dicts = blocks.dictionaries()
        with FolderWriter(root, ArchiveError, exclusive=exclusive) as writer:
            split = _split(rows) if exclusive else None
            if split is None:
                _write(blocks.read_located(rows, dicts), paths, writer)
            else:
                # the rows from `cut` to `end` in a child process (forked.py): their blocks
                # are read here, as the child must not use this process's SQLite connection
                cut, end = split
                frames = blocks.frames(row[3] for row in rows[cut:end])
                def child() -> tuple[Callable[[], None], int]:
                    return (lambda: _write(blocks.read_located(rows[cut:end], dicts, frames),
                                           paths[cut:end], writer)), end - cut

                mine: RestoreDamaged | None = None
                try:
                    with forked.beside(child, ArchiveError) as go:
                        del frames  # the child's copy is its own
                        go()
                        try:
                            _write(blocks.read_located(rows[:cut] + rows[end:], dicts),
                                   paths[:cut] + paths[end:], writer)
                        except RestoreDamaged as exc:  # the child's half is still written
                            mine = exc
                except RestoreDamaged as theirs:  # the briefs of both halves are named
                    raise RestoreDamaged.of([*(mine.damaged if mine else ()), *theirs.damaged]
                                            ) from theirs
                if mine is not None:
                    raise mine

    @contextmanager
    def reading(self) -> Iterator[int]:
        """What is read inside sees one state of the archive, whatever commits meanwhile;
        yields a number naming that state (it differs once another process has committed).
        In the default journal mode a writer's commit waits for the block to end (up to its
        `--wait`), in WAL mode it does not: keep the block short."""
        with self._db.consistent():
            yield self._db.data_version()

    def vectors(self, kinds: Sequence[int] = SEARCH_KINDS) -> StoredVectors:
        """All vector rows of the given kinds, in a few large reads (one per segment).
        int8 codes stay on disk until `StoredVectors.int8(rows)` asks for some. `missing`
        counts the rows the contents call for that no segment holds, in the same read (an
        add committing between two reads would look like lost rows)."""
        import numpy as np

        with self._db.consistent():
            stored = segments.load(self._db, self.meta, kinds)
            # a content of v > 1 vectors has v - 1 chunks and its whole; of 1, one row; a
            # zero-byte brief, none
            (single, chunks, whole), = self._db.query(
                "SELECT COUNT(*) FILTER (WHERE vectors = 1), "
                "TOTAL(CASE WHEN vectors > 1 THEN vectors - 1 ELSE 0 END), "
                "COUNT(*) FILTER (WHERE vectors > 1) FROM contents")
        expected = {segments.KIND_BRIEF_AND_CHUNK: single, segments.KIND_CHUNK: chunks,
                    segments.KIND_BRIEF: whole}
        found = int(np.count_nonzero(np.isin(stored.kinds, kinds)))
        stored.missing = max(0, int(sum(expected[k] for k in kinds)) - found)
        return stored

    def all_int8(self, kinds: Sequence[int] = BRIEF_KINDS) -> npt.NDArray[np.int8]:
        """Every int8 code of the given kinds, in segment order (as `vectors(kinds)`)."""
        return segments.all_codes(self._db, self.meta, kinds)

    def chunk_vectors(self, content_ids: Iterable[int]) -> dict[int, Floats]:
        """Unit vectors of the chunks of these contents (of those longer than one chunk),
        from their stored codes."""
        return segments.chunk_vectors(self._db, self.meta, set(content_ids))

    def has_lexical_index(self) -> bool:
        """False for an archive of an older format not written to since (see schema.py), or
        one whose index a write has yet to fill (a migration's backfill cut short)."""
        return lexical.complete(self._db)

    def lexical_splits_cjk(self) -> bool:
        """Whether the lexical index holds each Chinese or Japanese letter as its own token
        (format 9 on); an older format's index holds a run of them as one token."""
        return lexical.splits_cjk(self._db)

    def lexical_matches(self, term: str) -> npt.NDArray[np.int64]:
        """Content ids (sorted) whose text holds the token `term`; see store/lexical.py."""
        return lexical.matching(self._db, term)

    def lexical_counts(self, texts: dict[int, str], terms: Iterable[str]
                       ) -> dict[tuple[str, int], int]:
        """(term, content id) -> how often the term occurs in that text, as this archive's
        index tokenizes it; see `lexical.term_counts`."""
        return lexical.term_counts(texts, terms, self.lexical_splits_cjk())

    def content_sizes(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(content ids sorted, their sizes in bytes) of every stored content."""
        return lexical.sizes(self._db)

    # -- removing ------------------------------------------------------------------------

    def rm(self, selectors: Sequence[str], *, version: int | None = None,
           exact: bool = False, missing_ok: bool = False) -> list[BriefRecord]:
        """Remove the selected briefs (every version, or just `version`); bytes and vectors no
        brief needs any more are deleted and the file is compacted. `exact`: the selectors
        are archived paths, each taking itself only (a prune's: `notes` must not take the
        folder `notes/` too). A sha256 prefix must name one content: a short one that
        starts several would remove briefs no one meant. `missing_ok`: a selector that
        takes no brief is no error (a retried removal), as `rm -f` of a missing file."""
        self._require_writer()
        if not selectors:
            raise UsageError("rm needs at least one selector; nothing was removed")
        self._lookup = None  # read again when next needed
        with self._db.transaction() as db:
            # `lost`: a brief whose stored content is lost can be removed all the same
            if version is None:
                paths = set(selectors) if exact else {r.path for r in catalogue.records(
                    db, selectors, lost=True, one_content=True, missing_ok=missing_ok)}
                gone = [r for r in catalogue.records(db, all_versions=True, lost=True)
                        if r.path in paths]
            else:
                gone = catalogue.records(db, selectors, version=version, lost=True,
                                         one_content=True, missing_ok=missing_ok)
            if not gone:  # (missing_ok): nothing to write, nor a file to compact anew
                return gone
            catalogue.delete_briefs(db, gone)
            self._collect_garbage(db, {r.content_id for r in gone if catalogue.is_lost(r)})
        self.compact()
        return gone

    def _collect_garbage(self, db: connection.Connection, lost: Set[int] = frozenset()
                         ) -> None:
        """After brief rows were deleted: drop them from snapshots, then the contents no brief
        holds, their bytes (blocks rewritten) and their vectors. `lost`: content ids of
        deleted rows whose `contents` row was lost: their vectors and index entries go too
        once no brief names them. In the caller's transaction."""
        snaps.drop_missing_briefs(db)
        # hook: unindexing a content needs its text, so before its bytes go; a damaged
        # one cannot be read, so then the index is rebuilt from what remains
        try:
            orphan_texts: list[tuple[int, str]] | None = [
                (i, self.text(i)) for i in catalogue.orphan_ids(db)]
        except IntegrityError:
            orphan_texts = None
        if orphan_texts:
            lexical.unindex(db, orphan_texts)
            lexical.optimize(db)
        orphans, touched = catalogue.delete_orphans(db)
        lost = catalogue.unnamed(db, lost)
        if lost:  # their texts are gone with their rows: the index is rebuilt without them
            orphans |= lost
            orphan_texts = None
        if orphan_texts is None:
            lexical.rebuild(db, [i for i, _ in catalogue.vector_counts(db)],
                            self._readable_text)
        for block_id in touched:
            self._blocks.rewrite(block_id)
        if orphans:
            segments.remove_contents(db, self.meta, orphans)

    # -- snapshots (issue 16) ------------------------------------------------------------

    def record_snapshot(self, names: Iterable[str], *, time: datetime, host: str,
                        roots: Sequence[str], tags: Sequence[str],
                        kept: Mapping[str, int] | None = None) -> Snapshot:
        """Record that an `add` run saw exactly these paths (at their latest versions, but
        those of `kept`: path -> the briefs.id its parent snapshot held, for a path the run
        skipped) under `roots`: a path of an earlier snapshot of the same host and roots that
        is missing now is deleted in this one."""
        self._require_writer()
        seen = set(names) | set(kept or ())
        with self._db.transaction() as db:
            unchanged = snaps.repeat(db, seen, time=time, host=host, roots=roots, tags=tags)
            if unchanged is not None:
                return unchanged
            latest = catalogue.latest_briefs(db)
            held = {name: latest[name] for name in seen if name in latest}
            if kept:  # not the path's latest version: another host's or a later-dated run's
                size = snaps.sizes(db, kept.values())
                held.update({name: (i, size[i]) for name, i in kept.items() if i in size})
            ids = {name: i for name, (i, _) in held.items()}
            return snaps.record(db, ids, time=time, host=host, roots=roots, tags=tags,
                                total_bytes=sum([size for _, size in held.values()]),
                                latest=all(latest.get(name, (-1,))[0] == i
                                           for name, i in ids.items()))

    def snapshot_versions(self, host: str, roots: Sequence[str],
                          before: datetime | None = None) -> dict[str, int]:
        """Path -> briefs.id of what the newest snapshot of this host and roots holds (none
        yet: empty); with `before`, of the latest one at or before that time (what `add`
        compares with)."""
        return snaps.open_versions(self._db, host, roots, before)

    def snapshot_members(self, snapshot: Snapshot) -> set[tuple[str, int]]:
        """The (path, version) pairs a snapshot holds."""
        return snaps.members(self._db, snapshot)

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, oldest first."""
        return snaps.listing(self._db)

    def snapshot(self, which: str) -> Snapshot:
        """A snapshot by id or 'latest'."""
        return snaps.find(self._db, which)

    def snapshot_as_of(self, moment: datetime) -> Snapshot:
        """The newest snapshot taken at or before `moment`."""
        return snaps.as_of(self._db, moment)

    def forget(self, ids: Sequence[int], *, prune: bool = False) -> list[tuple[str, int]]:
        """Forget these snapshots; with `prune`, also delete the brief versions that neither a
        remaining snapshot nor a path's latest version holds, with their bytes and vectors,
        and shrink the file (versions stored before the archive, or an archive merged into
        it, had snapshots stay). One
        transaction, then VACUUM (atomic too): a kill at any moment leaves the archive as
        before or as after. Returns the (path, version) pruned."""
        self._require_writer()
        if prune:
            self._refuse_damaged_file()
        self._lookup = None  # read again when next needed
        with self._db.transaction() as db:
            # read (or, unmarked, worked out) before forgetting: see pre_snapshot_top
            pre_snapshot = snaps.pre_snapshot_top(db)
            snaps.forget(db, ids)
            pruned = self._prune(db, pre_snapshot) if prune else []
        if prune and (ids or pruned):  # (one that removed nothing leaves the file as it was)
            self.compact()
        return pruned

    def _prune(self, db: connection.Connection, pre_snapshot: int) -> list[tuple[str, int]]:
        # deleted rows: the versions only they held look held by none
        snaps.refuse_missing(db, "a version no other snapshot holds could look unheld")
        if wrong := snaps.miscounted(db):  # a lost entry: its version looks held by none
            snapshot_id, listed, held = wrong[0]
            raise IntegrityError(
                f"{db.path}: snapshot {snapshot_id} lists {listed} file(s) but its entries "
                f"hold {held}, so a version it holds could look unheld; nothing was pruned; "
                f"run `briefmin verify {db.path}`, and `forget` the snapshot to prune again")
        # versions stored before the archive (or one merged into it) had snapshots were in
        # none a policy forgot
        keep = ({i for i, _ in catalogue.latest_briefs(db).values()} | snaps.held_briefs(db)
                | snaps.merged_pre_snapshot(db))
        gone = catalogue.delete_versions_except(db, keep, keep_upto=pre_snapshot)
        if gone:
            self._collect_garbage(db)
        return gone

    # -- tiers (issue 16) ----------------------------------------------------------------

    def tier(self, codes: str, cutoff: datetime, *, dry_run: bool = False,
             only: Set[int] | None = None) -> TierReport:
        """Re-encode the rescoring codes of the contents that only old versions hold (see
        store/tiers.py) to `codes` ("small": 4-bit, "binary": none), with no model. As prune:
        one transaction, then VACUUM, so a kill at any moment leaves the archive as before or
        as after, and the file shrinks. `only`: these content ids instead, however recent
        (benchmarks tier a chosen share of an archive)."""
        from . import tiers  # only here: not on every command's path (restore, ls)

        # deleted rows: a version only they held would look old, and lose its codes
        why = "a version no other snapshot holds could look old"
        if dry_run:
            snaps.refuse_missing(self._db, why)
            return tiers.tier(self._db, codes, cutoff, dry_run=True, only=only)
        self._require_writer()
        self._refuse_damaged_file()  # (first: SQLite's own check of the pages it reads)
        snaps.refuse_missing(self._db, why)
        with self._db.transaction() as db:
            report = tiers.tier(db, codes, cutoff, dry_run=False, only=only)
        if report.rows:
            self.compact()
        return report

    def compact(self) -> None:
        """Give free pages back to the file system; VACUUM writes the file anew, so the bytes
        of deleted rows are gone from it too (not only marked free). Ctrl-C: SQLite finishes
        the VACUUM, one call, before Python sees the signal, so a file left with no free page
        is the run done (it exited 130, "interrupted", with the removal committed and the
        file written anew, and a rerun said `no brief matches`: a crash audit's finding);
        free pages left mean the VACUUM never began, and the message says what stays."""
        try:
            self._db.execute("VACUUM")
        except KeyboardInterrupt:
            (free,), = self._db.query("PRAGMA freelist_count")
            if free:
                raise InterruptedAfterCommit(
                    f"interrupted: the change is committed, but {self._db.path} was not "
                    "written anew, so the bytes it removed stay in the file's free pages "
                    "until a later `rm`, `forget --prune` or `tier` writes it anew") from None

    def _refuse_damaged_file(self) -> None:
        """Before a prune or a tier (each ends in a VACUUM): SQLite's own check of the file's
        pages. VACUUM copies every row it can read into a fresh file, so over damage SQLite
        sees it would leave a file that looks sound; the rewritten blocks and segments are
        checked against their own checksums as they are read (blocks.py, segments.py)."""
        problems = [str(row[0]) for row in self._db.query("PRAGMA quick_check(1)")]
        if problems != ["ok"]:
            first = problems[0].splitlines()[-1]  # (after "*** in database main ***")
            raise IntegrityError(
                f"{self.path}: the archive's file is damaged ({first}); rewriting it "
                f"would hide the damage, so nothing was changed; run `briefmin verify "
                f"{self.path}`")

    # -- reports -------------------------------------------------------------------------

    def space(self) -> dict[str, int]:
        """Bytes of file pages each table and index takes (SQLite's dbstat), by name."""
        try:
            found = self._db.query("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        except ArchiveError as exc:
            raise UsageError(f"this SQLite has no dbstat table to measure with ({exc})") from exc
        return {str(name): int(size) for name, size in found}

    def info(self) -> dict[str, Any]:
        meta = self.meta
        counts = catalogue.totals(self._db)
        blocks = self._blocks.totals()
        text = counts["frame_bytes"] + blocks["block_bytes"]
        dicts = blocks["dict_bytes"]
        vec_rows, vec_bytes = segments.totals(self._db)
        stored = os.path.getsize(self.path)
        raw = counts["raw_bytes"]
        index = lexical.index_bytes(self._db)
        return {
            "path": self.path, "format_version": meta.format_version,
            "briefs": counts["briefs"], "versions": counts["versions"],
            "unique_contents": counts["unique_contents"],
            "raw_bytes": raw, "unique_raw_bytes": counts["unique_raw_bytes"],
            "stored_bytes": stored, "text_bytes": text + dicts, "vector_bytes": vec_bytes,
            "other_bytes": max(0, stored - text - dicts - vec_bytes - index),
            "ratio": round(raw / stored, 3) if stored else 0.0,
            "lexical_index_bytes": index,
            "vectors": vec_rows, "vectors_by_code_bits": segments.tier_totals(self._db, meta),
            "blocks": blocks["blocks"],
            "dictionaries": blocks["dictionaries"],
            "model": meta.model_id, "dim": meta.dim,
            "chunking": {"tokens": meta.chunk_tokens, "overlap": meta.chunk_overlap},
            "quantization": {"profile": meta.profile, "binary_bits": meta.dim,
                             "rescore_bits": meta.rescore_bits, "int8_step": meta.int8_step},
            "created_at": meta.created_at,
            **snaps.totals(self._db),
        }

    def verify(self) -> VerifyReport:
        """Check everything; return the problems instead of raising, so all are reported."""
        from .verify import verify  # only here: not on every command's path (restore, ls)

        # one state throughout: an add committing while the texts were inflated read as
        # damage (vectors and index entries of a content the check had not seen)
        with self.reading():
            return verify(self._db, self._blocks)

    def rebuild_lexical_index(self) -> int:
        """Drop the lexical index and index every stored text again, in one transaction (no
        model); returns how many contents were indexed. The index is derived data, yet FTS5
        damaged by a flipped bit made every write fail ("malformed"). A damaged text is left
        out, as the backfill does (`verify` names it)."""
        self._require_writer()
        with self._db.transaction() as db:
            indexed = lexical.recreate(db, [i for i, _ in catalogue.vector_counts(db)],
                                       self._readable_text)
        self._lexical_grew = False  # backfill merged it
        return indexed

    def require_snapshot_ledger(self, *, merging: bool = False) -> None:
        """Raise IntegrityError before a run that records snapshots (`add`, `merge`) stores
        anything, if the ledger is lost (it would store versions and then fail to record
        its snapshot, leaving them for a prune to delete), or if a snapshot deleted outside
        briefmin may be the newest of a chain (`add`: snapshots.refuse_missing_newest) or
        is missing at all (`merge`, which may continue a chain too)."""
        if self._db.version < schema.LEDGERED:
            return
        if merging:  # (both read the ledger first: a lost one raises there)
            snaps.refuse_missing(self._db, "a snapshot merged in could continue it")
        else:
            snaps.refuse_missing_newest(self._db)

    def forget_missing_snapshots(self) -> snaps.LedgerRepair:
        """Accept what the ledger of the snapshots says against their rows: forget the
        snapshots whose rows were deleted outside briefmin, so prune runs again (it may then
        delete the versions only they held), and enter the rows the ledger lacks; a lost
        ledger is written again from the rows. One transaction. See
        snapshots.reconcile_ledger."""
        self._require_writer()
        with self._db.transaction() as db:
            return snaps.reconcile_ledger(db)

    # -- helpers -------------------------------------------------------------------------

    def _readable_text(self, content_id: int) -> str | None:
        try:
            return self.text(content_id)
        except IntegrityError:
            return None  # damaged: `verify` reports it; the index leaves it out

    def _backfill_lexical(self) -> None:
        """Index the contents an older format stored without the lexical index (the migration
        asked for it; one transaction, no model)."""
        if self._db.query("SELECT 1 FROM meta WHERE key = ?", (lexical.BACKFILL_KEY,)):
            with self._db.transaction() as db:
                lexical.backfill(db, [i for i, _ in catalogue.vector_counts(db)],
                                 self._readable_text)

    def _require_writer(self) -> None:
        if self._lock is None:
            raise UsageError("archive opened read-only; open with write=True")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write(contents: Iterator[tuple[int, bytes | IntegrityError]], paths: Sequence[str],
           writer: FolderWriter) -> None:
    """Each content (read_located's, one per row) at the path beside its row (checked by
    check_names). A damaged one is not written; once every other one is, the first damaged
    one's error is raised with the brief's name (a restore that stopped there left the
    intact briefs after it unwritten, when a restore is what recovers from damage)."""
    write = writer.write
    damaged: list[tuple[str, IntegrityError]] = []
    for (_, data), path in zip(contents, paths, strict=True):
        if isinstance(data, IntegrityError):
            damaged.append((path, data))
            continue
        write(path.split("/"), data)
    if damaged:
        raise RestoreDamaged.of([(path, str(error)) for path, error in damaged]) \
            from damaged[0][1]


class _Unsound(Exception):
    """A half of a restore in two processes found a damaged row or a name twice: nothing is
    written, and the restore reads the whole catalogue instead (which names the damage)."""


def _half(db: connection.Connection, blocks: Blocks, half: tuple[catalogue.Halves, bool],
          version: int | None, within: Set[tuple[str, int]] | None, dicts: dict[int, bytes],
          writer: FolderWriter) -> tuple[Callable[[], None], int]:
    """One half of _restore_halves, read and checked (every name; none twice, as an
    exclusive writer needs): what writes it, and how many briefs it holds."""
    found = catalogue.placed(db, version=version, within=within, half=half)
    if found is None:
        raise _Unsound
    paths = [row[6] for row in found]
    check_names(writer.root, paths, ArchiveError)
    if len(set(paths)) != len(paths):
        raise _Unsound
    rows = [row[:6] for row in found]
    return (lambda: _write(blocks.read_located(rows, dicts), paths, writer)), len(rows)


def _empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


_DAMAGED_ROW = IntegrityError("its catalogue row is damaged (checksum)")


class RestoreDamaged(IntegrityError):
    """A restore that wrote every intact brief but these: `damaged` is (path, what is wrong)
    for each, in the order met, the first named in the message. Made by `of`; it pickles
    (a forked half sends it to the parent) as the message and its `damaged`."""

    damaged: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, damaged: Sequence[tuple[str, str]]) -> RestoreDamaged:
        (path, why), more = damaged[0], len(damaged) - 1
        named = _naming(path, IntegrityError(why), more=more)
        error = cls(str(named))
        error.damaged = tuple((p, w.removesuffix(VERIFY_ADVICE)) for p, w in damaged)
        return error


def _naming(path: str, error: IntegrityError, verb: str = "restore", *, more: int = 0,
            archive: str | None = None) -> IntegrityError:
    """A damaged brief's error: what could not be done to which brief (and how many more),
    what is wrong (the name escaped: a damaged one may hold any character), and to run
    verify (on `archive` when given)."""
    why = str(error).removesuffix(VERIFY_ADVICE)
    others = f" (and {more} other brief(s))" if more else ""
    advice = VERIFY_ADVICE if archive is None else f"; run `briefmin verify {archive}`"
    return IntegrityError(f"cannot {verb} {printable(path)}{others}: {why}{advice}")


def _split(found: list[Any]) -> tuple[int, int] | None:
    """Where to cut `Blocks.locate`'s rows for two processes, at block boundaries: the child
    takes rows[cut:end], the parent the rest; None when one process is better: few files,
    one core, or a row whose cells are damaged (read_located would query for it, which the
    child must not). The child takes a little more than half (CHILD_SHARE): the parent's
    half reads its blocks from SQLite as it goes, the child's were read before the fork (at
    0.5 the parent's half took ~10% more CPU; at 0.53 the two are even)."""
    if len(found) < SPLIT_FROM_CONTENTS or not forked.can_fork() or not all(r[5] for r in found):
        return None
    cut = len(found) - int(len(found) * CHILD_SHARE)
    while 0 < cut < len(found) and found[cut][3] == found[cut - 1][3]:
        cut += 1
    if cut == len(found):
        return None  # one block: nothing to share
    end = cut + 1  # the child's frames are copied to it: a bounded number of blocks
    blocks = 1
    while end < len(found):
        if found[end][3] != found[end - 1][3]:
            blocks += 1
            if blocks > SPLIT_MAX_BLOCKS:
                break
        end += 1
    return cut, end
