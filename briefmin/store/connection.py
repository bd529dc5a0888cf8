"""The one way into the archive's SQLite file: opening, creating and checking it, transactions,
and every query, with SQLite's errors turned into the project's one-line errors.

Nothing outside `briefmin.store` holds an sqlite3 connection or writes SQL."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import islice
from typing import Any

from ..errors import (
    ArchiveBusyError,
    ArchiveError,
    IntegrityError,
    NewerFormatError,
    WriteFailedError,
    printable,
)
from . import rows, schema

SQLITE_MAGIC = b"SQLite format 3\x00"
# SQLite quotes damaged schema text in its error messages, and sqlite3 then fails to decode
# the message itself: that UnicodeDecodeError means a damaged archive just as well
SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)

Cell = type | tuple[type, ...]
INT_OR_NONE = (int, type(None))
BYTES_OR_NONE = (bytes, type(None))


class Connection:
    """An open archive file. Every statement goes through `query`/`execute`, so a failure
    anywhere becomes an ArchiveError naming the file, never a raw sqlite3 exception."""

    def __init__(self, path: str, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self.version = schema.FORMAT_VERSION  # the file's format, once checked
        self._mapped = False  # see read_blob_parts
        self.busy_ms = 0  # how long a statement waits for a lock (PRAGMA busy_timeout)
        self.on_busy: Callable[[], None] | None = None  # told once when a commit waits

    @property
    def checksummed(self) -> bool:
        """Do this file's rows carry checksums (format 4 on)?"""
        return self.version >= schema.CHECKSUMMED

    def close(self) -> None:
        self._conn.close()

    def query(self, sql: str, params: Sequence[Any] = (), *, lenient: bool = False
              ) -> list[Any]:
        """The rows. `lenient`: a text cell that is not UTF-8 (a flipped bit, or a blob whose
        type flipped to text) is read with U+FFFD for its bad bytes instead of failing the
        whole query; its row then fails its checksum, so callers treat it as that one row's
        damage."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except SQLITE_ERRORS as exc:
            if not (lenient and _undecodable(exc)):
                raise archive_error(self.path, exc) from exc
        with self._decoding_in_python():
            return self.query(sql, params)

    def iterate(self, sql: str, params: Sequence[Any] = (), *, lenient: bool = False
                ) -> Iterator[Any]:
        """Rows one by one (for tables too large to hold at once). `lenient`: as in `query`;
        on a cell that is not UTF-8 the query runs again, decoding in Python, and goes on
        after the rows already given (so `sql` must fix their order)."""
        given = 0
        try:
            cursor = self._conn.execute(sql, params)
            while batch := cursor.fetchmany(256):
                given += len(batch)
                yield from batch
            return
        except SQLITE_ERRORS as exc:
            if not (lenient and _undecodable(exc)):
                raise archive_error(self.path, exc) from exc
        with self._decoding_in_python():
            yield from islice(self.iterate(sql, params), given, None)

    @contextmanager
    def _decoding_in_python(self) -> Iterator[None]:
        """Text cells decoded in Python with U+FFFD for bad bytes (`lenient`), only once the
        fast path failed on one: a Python call per cell."""
        self._conn.text_factory = _lenient_text
        try:
            yield
        finally:
            self._conn.text_factory = str

    def one(self, sql: str, params: Sequence[Any] = (), *, lenient: bool = False) -> Any:
        """The first row, or None (`lenient`: as in `query`)."""
        if lenient:
            found = self.query(sql, params, lenient=True)
            return found[0] if found else None
        try:
            return self._conn.execute(sql, params).fetchone()
        except SQLITE_ERRORS as exc:
            raise archive_error(self.path, exc) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except SQLITE_ERRORS as exc:
            raise archive_error(self.path, exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except SQLITE_ERRORS as exc:
            raise archive_error(self.path, exc) from exc

    def script(self, sql: str) -> None:
        # executescript steps a pragma to its end; execute() runs one step only
        try:
            self._conn.executescript(sql)
        except SQLITE_ERRORS as exc:
            raise archive_error(self.path, exc) from exc

    def read_blob(self, table: str, column: str, rowid: int, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` of one blob cell, without reading the rest of it."""
        return self.read_blob_parts(table, column, rowid, [offset], size)[0]

    def read_blob_parts(self, table: str, column: str, rowid: int, offsets: Sequence[int],
                        size: int) -> list[bytes]:
        """`size` bytes at each offset of one blob cell, through one handle: SQLite finds an
        offset by walking the cell's overflow pages, and a handle remembers the walk (100
        rows of a 17 MB vector segment: 6 ms, against 640 ms with a handle per row).
        The first call maps the file (PRAGMA mmap_size): the walk is otherwise one pread per
        overflow page, and rescoring 100 of 1M rows took 150-800 ms here, ~20 ms mapped. Only
        here: a mapped page a process touches counts in its RSS, and a dedupe or verify that
        reads the whole file would so show the file's size on top of its own memory."""
        if not self._mapped:
            self.execute(f"PRAGMA mmap_size = {PARTIAL_READ_MMAP_BYTES}")
            self._mapped = True
        try:
            with self._conn.blobopen(table, column, rowid, readonly=True, name="main") as blob:
                parts = []
                for offset in offsets:
                    blob.seek(offset)
                    parts.append(blob.read(size))
                return parts
        except SQLITE_ERRORS as exc:
            raise IntegrityError(f"{self.path}: {table}.{column} of row {rowid} cannot be "
                                 f"read ({exc}); run `briefmin verify`") from exc

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read transaction: what is read within it sees one state of the file. In
        rollback-journal mode no writer commits while it lasts, so the reads of another
        connection to the file made meanwhile (a forked child's) see that state too; in WAL
        mode it does not hold writers back (see `wal`)."""
        self.execute("BEGIN")
        try:
            yield
        finally:
            if self._conn.in_transaction:
                with suppress(sqlite3.Error):
                    self._conn.execute("COMMIT")

    @contextmanager
    def consistent(self) -> Iterator[None]:
        """`reading`, or nothing inside a transaction already open (it sees one state)."""
        if self._conn.in_transaction:
            yield
            return
        with self.reading():
            yield

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the file (SQLite's
        PRAGMA data_version): read inside a read transaction, it names the state it sees."""
        (version,), = self.query("PRAGMA data_version")
        return int(version)

    @property
    def wal(self) -> bool:
        """Is the file in WAL mode (set_journal_mode)?"""
        (mode,), = self.query("PRAGMA journal_mode")
        return str(mode).lower() == "wal"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """BEGIN IMMEDIATE ... COMMIT; anything raised rolls back."""
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self._commit()
        except BaseException:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    def _commit(self) -> None:
        """COMMIT, waiting for readers to let go in slices of COMMIT_SLICE_MS: inside
        SQLite's own wait Python runs no signal handler, so a Ctrl-C was acted on only when
        the reader ended or the whole --wait ran out (an add sat 24 s after it). A COMMIT
        that found the file busy leaves the transaction open, to be tried again."""
        start = time.monotonic()
        deadline, told = start + self.busy_ms / 1000, False
        self._conn.execute(f"PRAGMA busy_timeout = {min(COMMIT_SLICE_MS, self.busy_ms)}")
        try:
            while True:
                try:
                    self._conn.execute("COMMIT")
                    return
                except sqlite3.OperationalError as exc:
                    now = time.monotonic()
                    if "locked" not in str(exc) or now >= deadline:
                        raise archive_error(self.path, exc) from exc
                    # said after a second: a reader's hold, not a moment's overlap
                    if self.on_busy and not told and now - start >= 1:
                        told = True
                        self.on_busy()
        finally:
            with suppress(sqlite3.Error):
                self._conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")


COMMIT_SLICE_MS = 200


def check_cells(row: Sequence[Any], kinds: Sequence[Cell], what: str) -> None:
    """SQLite returns whatever type a damaged or hostile file holds in a cell: refuse a row
    whose values are not of the kinds this code was written for."""
    if len(row) != len(kinds) or not all(map(isinstance, row, kinds)):
        raise IntegrityError(f"{what} has damaged catalogue values; run `briefmin verify`")


def _undecodable(exc: sqlite3.Error | UnicodeDecodeError) -> bool:
    """Whether a query failed on a text cell that is not UTF-8."""
    return isinstance(exc, sqlite3.OperationalError) and "Could not decode" in str(exc)


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def archive_error(path: str, exc: sqlite3.Error | UnicodeDecodeError) -> ArchiveError:
    if isinstance(exc, UnicodeDecodeError):
        message = bytes(exc.object).decode("utf-8", "replace")
    else:
        message = str(exc)
    # SQLite quotes damaged schema text, newlines and all: keep the message to one line
    message = printable(" ".join(message.split()))
    if len(message) > 300:
        message = message[:300] + "…"
    if "disk I/O error" in message and os.path.exists(f"{path}-journal"):
        # a killed writer's journal that SQLite must roll back before anyone reads, and may
        # not (a read-only folder or file): not a full disk, which the advice below says
        why = _unwritable(path)
        if why:
            return ArchiveError(f"{path}: a write was interrupted and must be rolled back "
                                f"before the archive can be read, but {why}; make it "
                                f"writable and run again ({message})")
    if "disk is full" in message or "disk I/O error" in message:
        return WriteFailedError(f"{path}: cannot write ({message}); the archive is unchanged "
                            "since its last commit; free some space and run again")
    if "locked" in message or "busy" in message:
        return ArchiveBusyError(f"{path}: archive is busy ({message}); try again later")
    # (FTS5 cannot even open its table when its own records are gone: the lexical index)
    if any(sign in message for sign in ("not a database", "malformed", "Could not decode",
                                        "vtable constructor failed")):
        return ArchiveError(f"{path}: archive is damaged ({message}); run `briefmin verify`")
    if "readonly database" in message or "unable to open database file" in message:
        why = _unwritable(path)
        if why:
            return ArchiveError(f"{path}: {why} ({message})")
    return ArchiveError(f"{path}: {message}")


def _unwritable(path: str) -> str | None:
    """What keeps a write out, said plainly: SQLite's words for a read-only file or folder
    ("unable to open database file" for a file that readers just read) name neither. Tried
    rather than asked (os.access): root passes access() where chattr +i or a read-only mount
    still refuse."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # (never waits on a FIFO)
    except PermissionError:
        return "the archive file is read-only"
    except OSError as exc:
        return "the archive file is on a read-only file system" if exc.errno == errno.EROFS \
            else None
    parent = os.path.dirname(os.path.abspath(path))
    if not _can_create_in(parent, path):
        # (a reader meets this too when the archive is in WAL mode: SQLite needs its -shm)
        return (f"its folder {parent} is read-only, and SQLite writes its journal (or a WAL "
                "archive's -shm file) beside the archive")
    return None


def _can_create_in(folder: str, path: str) -> bool:
    """Whether `folder` lets a file be made in it: tried (as `_unwritable` says why)."""
    probe = os.path.join(folder, _scratch_name(path, "probe"))
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError as exc:
        # only a refusal: a name too long or a full disk is no read-only folder
        return exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS)
    os.unlink(probe)
    return True


def _scratch_name(path: str, kind: str) -> str:
    """A hidden name beside `path` for a file of this run alone: the process id is not
    unique in a folder two machines share, so a random token too; a long archive name is
    shortened to its hash, so that the name stays within the 255 bytes a name may take."""
    name = os.path.basename(path)
    if len(os.fsencode(name)) > 200:
        name = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f".{name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}"


def create(path: str, initial_meta: dict[str, object]) -> None:
    """Build an empty archive beside `path` and link it into place: a concurrent creator or a
    kill mid-way never leaves a half-made archive under the real name."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ArchiveError(f"{path}: folder {parent} does not exist")
    tmp = os.path.join(parent, _scratch_name(path, "new"))
    made = False
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # ours alone
        made = True
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # pages freed by rewrites (dictionary recompression, rm) go back to the file
            # system at the end of each add, without a full VACUUM
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("BEGIN IMMEDIATE")
            schema.migrate(conn)
            schema.write_meta(conn, initial_meta)
            conn.execute("COMMIT")
        finally:
            conn.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # like any file the user creates
        with suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    except (OSError, sqlite3.Error) as exc:
        # SQLite says "unable to open database file" for a folder it may not write in
        reason = str(exc) if _can_create_in(parent, path) else (
            f"its folder {parent} is read-only; create the archive in a folder you can "
            "write to")
        raise ArchiveError(f"{path}: cannot create archive ({reason})") from exc
    finally:
        if made:
            with suppress(OSError):
                os.unlink(tmp)


def check_header(path: str) -> None:
    """Tell 'no archive', 'a folder', 'an empty file' and 'not an archive' apart up front,
    with messages that say what to do."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        raise ArchiveError(f"{path}: no such archive; create one with "
                           f"`briefmin add {path} FOLDER`") from None
    except OSError as exc:  # a folder on the way we may not enter: not "no such archive"
        raise ArchiveError(f"{path}: cannot read archive ({exc.strerror or exc})") from None
    if os.path.isdir(path):
        raise ArchiveError(f"{path}: is a folder, not an archive file")
    kind = 0
    with suppress(OSError):  # a dangling link: open() below says so
        kind = os.stat(path).st_mode
    if stat.S_ISFIFO(kind) or stat.S_ISSOCK(kind):  # opening one would wait for a writer
        raise ArchiveError(f"{path}: is a {'named pipe' if stat.S_ISFIFO(kind) else 'socket'}"
                           ", not an archive file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read archive ({exc.strerror or exc})") from exc
    if not head:
        raise ArchiveError(f"{path}: empty file, not a briefmin archive")
    if head != SQLITE_MAGIC:
        raise ArchiveError(f"{path}: not a briefmin archive")


def connect(path: str, write: bool, wait: float | None) -> Connection:
    """Open an archive whose header was checked: application id and format (migrated when
    writing) are checked here."""
    # Readers open read-write when they may, with query_only on: after a killed writer,
    # SQLite must roll its hot journal back before anyone can read, and that needs write
    # access. A read-only file is still readable when no journal is pending.
    mode = "rw" if write or os.access(path, os.W_OK) else "ro"
    uri = f"file:{_quote(os.path.abspath(path))}?mode={mode}"
    try:
        raw = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except SQLITE_ERRORS as exc:
        raise archive_error(path, exc) from exc
    # old formats' views compute the path key that format 4 stores (see schema.py)
    raw.create_function("path_key", 1, rows.path_key, deterministic=True)
    conn = Connection(path, raw)
    try:
        # readers wait out a writer's commit; writers already hold the whole-run lock
        conn.busy_ms = 60_000 if wait is None else max(5_000, int(wait * 1000))
        conn.execute(f"PRAGMA busy_timeout = {conn.busy_ms}")
        if write:
            # the catalogue's indexes take inserts at random keys: a larger page cache keeps
            # their pages in memory as the archive grows (SQLite's default is 2 MB)
            conn.execute("PRAGMA cache_size = -65536")
        conn.version = _check_schema(conn, raw, write)
        if conn.version < schema.CHECKSUMMED:
            conn.script(schema.OLD_FORMAT_VIEWS)  # temporary: the file is not changed
        if conn.version < schema.COMPACT:
            conn.script(schema.TIMES_VIEW)  # so is this
        if not write:
            conn.execute("PRAGMA query_only = 1")
    except BaseException:
        conn.close()
        raise
    return conn


# address space, not memory: pages are read as they are touched (SQLite remaps when another
# connection changes the file's size)
PARTIAL_READ_MMAP_BYTES = 1 << 30


def _quote(path: str) -> str:
    """The path for an SQLite URI, percent-encoded from its bytes: a name that is not UTF-8
    (Python holds its bytes as lone surrogates) cannot be encoded as text."""
    from urllib.parse import quote

    return quote(os.fsencode(path), safe="/")


def _check_schema(conn: Connection, raw: sqlite3.Connection, write: bool) -> int:
    """The format the archive is in once checked (and migrated, when writing)."""
    path = conn.path
    (app_id,), = conn.query("PRAGMA application_id")
    try:
        version = schema.current_version(raw)
    except SQLITE_ERRORS as exc:
        raise archive_error(path, exc) from exc
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
        with conn.transaction():
            try:
                schema.migrate(raw)
            except SQLITE_ERRORS as exc:
                error = archive_error(path, exc)
                if type(error) is ArchiveError and any(sign in str(exc) for sign in (
                        "already exists", "no such table", "no such column", "duplicate")):
                    # tables another format's: SQLite's words alone ("table blocks already
                    # exists") said nothing of what happened or what to do
                    said = str(error).removeprefix(f"{path}: ")  # (SQLite's, on one line)
                    raise ArchiveError(
                        f"{path}: cannot upgrade it from format {version} ({said}): its tables "
                        f"are not those of format {version}, so the file was changed by "
                        "something other than briefmin, or damaged; nothing was changed; "
                        "restore it from a backup") from exc
                raise error from exc
            except ArchiveError as exc:  # found damage: nothing was changed
                raise ArchiveError(f"{path}: {exc}") from exc
        version = schema.FORMAT_VERSION
    # preparing a statement parses the whole schema: a damaged one is reported at open
    conn.query("SELECT 1 FROM meta LIMIT 0")
    return version
