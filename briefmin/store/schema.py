"""The archive's SQLite schema as numbered forward migrations.

`PRAGMA user_version` holds the format version; an archive whose version is higher than
`FORMAT_VERSION` was written by a newer briefmin and is refused rather than misread."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ArchiveError
from . import rows

if TYPE_CHECKING:
    from ..quantize import RescoreCodes
    from .connection import Connection

# 'BMIN' — marks the SQLite file as a briefmin archive (`PRAGMA application_id`)
APPLICATION_ID = 0x424D494E

# A migration is SQL statements (separated by ";\n"), or SQL and then a Python step over the
# same connection (for values SQL cannot compute). Append only: the list index + 1 is the
# format version it brings an archive to.
Migration = str | tuple[str, Callable[[sqlite3.Connection], None]]

# the lexical index (store/lexical.py); verify builds a copy of it in memory from this too
LEXICAL_TABLE_SQL = """
    CREATE VIRTUAL TABLE lexical USING fts5(text, content='', detail=none,
        columnsize=0, tokenize='porter unicode61 remove_diacritics 2')
"""
# meta key the migration sets: the contents stored before the index still need indexing
LEXICAL_BACKFILL = "lexical_backfill"
# meta key migration 5 sets: the highest briefs.id when the archive gained snapshots (0 in
# an archive made with them). The versions up to it were never in a snapshot a policy could
# forget, so prune keeps them (store/snapshots.py, `pre_snapshot_top`)
PRE_SNAPSHOT_TOP = "pre_snapshot_top"


def pre_snapshot_top_value(stored: object) -> int | None:
    """PRE_SNAPSHOT_TOP's value, or None when it is no count (damaged under a valid
    checksum: `verify` says so, prune refuses)."""
    try:
        value = json.loads(stored) if isinstance(stored, str | bytes) else None
    except ValueError:
        return None
    return value if type(value) is int and value >= 0 else None


def _mark_pre_snapshot_versions(conn: sqlite3.Connection) -> None:
    (top,), = conn.execute("SELECT COALESCE(MAX(id), 0) FROM briefs").fetchall()
    rows.put(conn, "meta", (PRE_SNAPSHOT_TOP, json.dumps(int(top))))


# meta key (format 11): the ids of the snapshots that exist, as [first, last] ranges. Every
# row carries a checksum, but a row deleted outside briefmin leaves none to fail, and prune
# would then delete the versions only that snapshot held; `add`, `merge` and `forget` keep
# the ledger, `verify` and prune compare it with the table (store/snapshots.py)
SNAPSHOT_LEDGER = "snapshot_ledger"


def ledger_value(ids: Iterable[int]) -> str:
    """SNAPSHOT_LEDGER's stored value for these ids: [first, last] ranges, so years of
    nightly snapshots cost one pair, and a thinned history a pair per kept snapshot."""
    ranges: list[list[int]] = []
    for i in sorted(set(ids)):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    return json.dumps(ranges)


def ledger_ids(stored: object) -> set[int] | None:
    """The ids SNAPSHOT_LEDGER's value holds, or None when it holds no ranges (damaged
    under a valid checksum)."""
    try:
        ranges = json.loads(stored) if isinstance(stored, str | bytes) else None
    except ValueError:
        return None
    if not isinstance(ranges, list) or not all(
            isinstance(r, list) and len(r) == 2 and all(type(v) is int for v in r)
            and 0 < r[0] <= r[1] for r in ranges):
        return None
    return {i for first, last in ranges for i in range(first, last + 1)}


def _start_snapshot_ledger(conn: sqlite3.Connection) -> None:
    ids = [int(i) for (i,) in conn.execute("SELECT id FROM snapshots")]
    rows.put(conn, "meta", (SNAPSHOT_LEDGER, ledger_value(ids)))


# Tiers (issue 16): `briefmin tier` re-encodes old rows' rescoring codes, so the segments of
# one archive may hold different codes. vec_codes names each segment whose `int8` blob is not
# of the archive's profile, with its bits per dimension: 4 (two codes a byte, the small
# profile's scale) or 0 (an empty blob: the rows keep only their binary codes, read through
# meta 'binary_decoder'). A segment without an entry holds the profile's codes, as every
# segment of an older format does, so no existing row is rewritten.
TIERS_SQL = """
    CREATE TABLE vec_codes (
        segment  INTEGER PRIMARY KEY,  -- vec_segments.id
        bits     INTEGER NOT NULL,
        checksum INTEGER
    )
"""


# Format 8 (issue 15): a compact catalogue. An index entry costs ~12 B a brief: the path,
# sha256 and content indexes were 38 of the catalogue's 120 B beyond the path (20k Debian
# descriptions, dbstat; goal <= 80). They are dropped: a writer holds the whole-run lock, so
# it looks paths and sha256s up in maps it reads once per run (catalogue.Lookup; `add` read
# every path's sha256 at its start already); readers scan (a search's first lookups of its
# hits: ~0.18 s CPU at a million briefs, see bench/RESULTS.md). `briefs.pathkey` is 0 (no
# byte), and `briefs.added` names a row of `times` (the distinct seconds briefs were added
# at: a batch's briefs share one) in 1-2 bytes instead of 4. The Python step rewrites every
# brief row so, after checking its checksum: a damaged row stops the migration (the archive
# stays as it was) rather than getting a valid checksum.
COMPACT_SQL = """
    DROP INDEX IF EXISTS briefs_content;
    DROP INDEX IF EXISTS briefs_path;
    DROP INDEX IF EXISTS contents_sha;
    CREATE TABLE times (
        id       INTEGER PRIMARY KEY,
        time     INTEGER NOT NULL,    -- unix seconds
        checksum INTEGER
    )
"""
# older formats, read as they are, show their times so: each distinct time is its own id
TIMES_VIEW = """
CREATE TEMP VIEW times AS SELECT DISTINCT added AS id, added AS time, NULL AS checksum
    FROM briefs
"""


def _compact_briefs(conn: sqlite3.Connection) -> None:
    """Intern the briefs' times and rewrite each brief row with its time's id and path key 0,
    a range of ids at a time (a million rows at once would hold them all in memory)."""
    times = sorted({t for (t,) in conn.execute("SELECT DISTINCT added FROM briefs")},
                   key=lambda t: (type(t).__name__, t))
    ids = {t: k for k, t in enumerate(times, 1)}
    rows.put_many(conn, "times", [(k, t) for t, k in ids.items()])
    (top,), = conn.execute("SELECT COALESCE(MAX(id), 0) FROM briefs").fetchall()
    for start in range(0, int(top) + 1, 50_000):
        found = conn.execute("SELECT id, path, version, content, added, pathkey, checksum "
                             "FROM briefs WHERE id >= ? AND id < ?",
                             (start, start + 50_000)).fetchall()
        for *values, checksum in found:
            if checksum != rows.row_sum("briefs", values):
                raise ArchiveError(f"the catalogue row {values[0]} is damaged, so the archive "
                                   "was not upgraded; run `briefmin verify`")
        rows.put_many(conn, "briefs", [(i, path, version, content, ids[added], 0)
                                       for i, path, version, content, added, _, _ in found])


# Format 9: the lexical index is rebuilt with each CJK letter as its own token
# (lexical.indexed_text, briefmin.cjk). Before it a run of Chinese or Japanese letters up to
# the next space or punctuation was one token, so a word inside the run (a quoted phrase, a
# name) was never found. As format 6 did, the index is dropped and every content indexed
# again on the next write (no model); readers of format 8 read its index as it is.
SPLIT_CJK_SQL = """
    DROP TABLE IF EXISTS lexical;
""" + LEXICAL_TABLE_SQL


def _request_lexical_backfill(conn: sqlite3.Connection) -> None:
    rows.put(conn, "meta", (LEXICAL_BACKFILL, '"pending"'))


# found in MIGRATIONS by identity: its SQL differs from format 6's only in white space
SPLIT_CJK_MIGRATION: Migration = (SPLIT_CJK_SQL, _request_lexical_backfill)


# `merge` of an archive whose versions no snapshot could hold (one of format 4 or older, or
# an upgraded one's history from before its snapshots): their new briefs.id here, which prune
# keeps as it keeps the versions up to PRE_SNAPSHOT_TOP (store/snapshots.py,
# `merged_pre_snapshot`). A format of its own: a briefmin that knew no such table would
# prune them, so it refuses the archive instead. `rm` deletes a removed version's row.
PRE_SNAPSHOT_VERSIONS_SQL = """
    CREATE TABLE pre_snapshot_versions (
        brief_id INTEGER PRIMARY KEY,  -- briefs.id
        checksum INTEGER
    )
"""

MIGRATIONS: list[Migration] = [
    # 1: the first format
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- zstd dictionaries; a content row names the one its frame needs
    CREATE TABLE dicts (
        id   INTEGER PRIMARY KEY,
        data BLOB NOT NULL
    );
    -- original bytes, zstd-compressed, stored once per sha256
    CREATE TABLE contents (
        id        INTEGER PRIMARY KEY,
        sha256    BLOB NOT NULL UNIQUE,
        size      INTEGER NOT NULL,
        dict_id   INTEGER REFERENCES dicts(id),
        data      BLOB NOT NULL,
        encoding  TEXT NOT NULL,       -- how the bytes were decoded for the encoder
        n_vectors INTEGER NOT NULL     -- rows this content owns in vec_segments
    );
    -- one row per (path, version)
    CREATE TABLE briefs (
        id         INTEGER PRIMARY KEY,
        path       TEXT NOT NULL,
        version    INTEGER NOT NULL,
        content_id INTEGER NOT NULL REFERENCES contents(id),
        added_at   TEXT NOT NULL,
        UNIQUE (path, version)
    );
    CREATE INDEX briefs_content ON briefs(content_id);
    -- vectors in column blocks: a search reads a few large blobs, not a row per vector.
    -- content_ids int64[n], kinds uint8[n], spans int32[n,2] (chunk char offsets),
    -- bits uint8[n, dim/8 padded to 8], int8 int8[n, dim]
    CREATE TABLE vec_segments (
        id          INTEGER PRIMARY KEY,
        n           INTEGER NOT NULL,
        content_ids BLOB NOT NULL,
        kinds       BLOB NOT NULL,
        spans       BLOB NOT NULL,
        bits        BLOB NOT NULL,
        int8        BLOB NOT NULL
    );
    """,
    # 2: solid blocks. New contents are compressed together (up to BLOCK_BYTES of raw text per
    # zstd frame), which compresses far better than one frame per brief; a content in a block
    # has an empty `data` and points at its block and offset. Format-1 contents keep their
    # own frames, so no data needs rewriting.
    """
    CREATE TABLE blocks (
        id      INTEGER PRIMARY KEY,
        dict_id INTEGER REFERENCES dicts(id),
        size    INTEGER NOT NULL,      -- raw bytes in the frame
        data    BLOB NOT NULL
    );
    ALTER TABLE contents ADD COLUMN block_id INTEGER REFERENCES blocks(id);
    ALTER TABLE contents ADD COLUMN block_offset INTEGER;
    CREATE INDEX contents_block ON contents(block_id);
    """,
    # 3: profiles. vec_segments.int8 may hold 4-bit codes, two per byte (the "small"
    # profile); meta 'rescore_bits' says which. Older archives hold int8 codes.
    """
    INSERT OR IGNORE INTO meta(key, value) VALUES ('rescore_bits', '8');
    """,
    # 4: every row checksummed (rows.py: `checksum` is filled in by rows.backfill), and a
    # compact catalogue: times in unix seconds, briefs indexed by a 32-bit key of the path
    # (not the path again), contents by a 4-byte prefix of the sha256 (not all 32 bytes),
    # encodings as codes (ENCODINGS), no index of contents by block (only rm and dictionary
    # training look contents up by block, and they may scan)
    ("""
    CREATE TABLE briefs_v4 (
        id       INTEGER PRIMARY KEY,
        path     TEXT NOT NULL,
        version  INTEGER NOT NULL,
        content  INTEGER NOT NULL,
        added    INTEGER NOT NULL,     -- unix seconds
        pathkey  INTEGER NOT NULL,     -- rows.path_key(path)
        checksum INTEGER
    );
    INSERT INTO briefs_v4(id, path, version, content, added, pathkey)
        SELECT id, path, version, content_id,
               COALESCE(CAST(strftime('%s', added_at) AS INTEGER), 0), 0 FROM briefs;
    DROP TABLE briefs;
    ALTER TABLE briefs_v4 RENAME TO briefs;
    CREATE INDEX briefs_path ON briefs(pathkey);
    CREATE INDEX briefs_content ON briefs(content);
    CREATE TABLE contents_v4 (
        id           INTEGER PRIMARY KEY,
        sha256       BLOB NOT NULL,
        size         INTEGER NOT NULL,
        block        INTEGER,          -- NULL: a format-1 content in a frame of its own
        block_offset INTEGER,
        encoding     INTEGER NOT NULL, -- index in schema.ENCODINGS
        vectors      INTEGER NOT NULL, -- rows this content owns in vec_segments
        dict         INTEGER,          -- format-1 frames only: their dictionary
        frame        BLOB,             -- format-1 frames only
        checksum     INTEGER
    );
    INSERT INTO contents_v4(id, sha256, size, block, block_offset, encoding, vectors, dict,
                            frame)
        SELECT id, sha256, size, block_id, block_offset,
               CASE encoding WHEN 'utf-8' THEN 0 WHEN 'utf-16' THEN 1 WHEN 'cp1252' THEN 2
                             ELSE 3 END,
               n_vectors, dict_id, CASE WHEN block_id IS NULL THEN data END FROM contents;
    DROP TABLE contents;
    ALTER TABLE contents_v4 RENAME TO contents;
    CREATE INDEX contents_sha ON contents(substr(sha256, 1, 4));
    ALTER TABLE blocks ADD COLUMN checksum INTEGER;
    ALTER TABLE dicts ADD COLUMN checksum INTEGER;
    ALTER TABLE vec_segments ADD COLUMN checksum INTEGER;
    ALTER TABLE meta ADD COLUMN checksum INTEGER
    """, rows.backfill),
    # 5 (snapshots, issue 16): what each `add` run saw under its roots. Snapshots of the same
    # host and roots form a chain; a span says one brief version was present in the chain's
    # snapshots `first`..`last` (NULL: up to now), so an unchanged night costs one row. Ids
    # are never reused, or an old span could cover a new snapshot: meta 'snapshot_seq' holds
    # the highest ever given (not AUTOINCREMENT, whose sqlite_sequence carries no checksum).
    # Rows are checksummed like every other (rows.COLUMNS); a span whose `last` is set when
    # its brief changes is put again with a new checksum. The Python step marks the versions
    # stored before (PRE_SNAPSHOT_TOP): no snapshot holds them, yet prune must keep them.
    ("""
    CREATE TABLE snapshots (
        id       INTEGER PRIMARY KEY,
        time     TEXT NOT NULL,       -- ISO 8601 with its UTC offset
        host     TEXT NOT NULL,
        roots    TEXT NOT NULL,       -- JSON list
        tags     TEXT NOT NULL,       -- JSON list
        chain    INTEGER NOT NULL,    -- the id of the chain's first snapshot
        files    INTEGER NOT NULL,
        bytes    INTEGER NOT NULL,
        added    INTEGER NOT NULL,    -- paths new, changed and gone since the chain's last one
        changed  INTEGER NOT NULL,
        deleted  INTEGER NOT NULL,
        names    BLOB NOT NULL,       -- sha256 of its sorted paths, and the highest briefs.id
        top      INTEGER NOT NULL,    -- then: an unchanged night is recognized without a scan
        checksum INTEGER
    );
    CREATE INDEX snapshots_chain ON snapshots(chain, id);
    CREATE TABLE snapshot_spans (
        chain    INTEGER NOT NULL,
        brief_id INTEGER NOT NULL,    -- briefs.id
        first    INTEGER NOT NULL,
        last     INTEGER,
        checksum INTEGER,
        PRIMARY KEY (chain, brief_id, first)
    ) WITHOUT ROWID
    """, _mark_pre_snapshot_versions),
    # 6: the lexical index (store/lexical.py), self-contained (it needs nothing of entry 5).
    # Contents stored before it are indexed from their stored text on the next write (no
    # model): Archive.open(write=True) sees the meta key and calls lexical.backfill. Readers
    # of an older format see no index and search by meaning only. (Dropped first: the backfill
    # indexes every content, so a half-built index must not survive.) The meta row goes
    # through rows.put: format 4 checksums it like any other.
    ("""
    DROP TABLE IF EXISTS lexical;
    """ + LEXICAL_TABLE_SQL, _request_lexical_backfill),
    # 7: tiers of rescoring codes per segment (TIERS_SQL)
    TIERS_SQL,
    # 8: a compact catalogue (COMPACT_SQL)
    (COMPACT_SQL, _compact_briefs),
    # 9: the lexical index holds each Chinese or Japanese letter as a token (SPLIT_CJK_SQL)
    SPLIT_CJK_MIGRATION,
    # 10: versions `merge` brought from before an input's snapshots (PRE_SNAPSHOT_VERSIONS_SQL)
    PRE_SNAPSHOT_VERSIONS_SQL,
    # 11: the ledger of the snapshots that exist (SNAPSHOT_LEDGER); no table changes
    ("", _start_snapshot_ledger),
]

FORMAT_VERSION = len(MIGRATIONS)
# the oldest format readers use as it is (they never migrate: that takes the writer lock);
# format 3 only added a meta key whose absence means what format 2 did
OLDEST_READABLE = 2
# the first format whose rows carry checksums
CHECKSUMMED = 4
# the first format with vec_codes (read from the list: migrations may be renumbered)
TIERED = MIGRATIONS.index(TIERS_SQL) + 1
# the first format with the compact catalogue: no indexes, `times`, briefs.pathkey 0
COMPACT = next(k for k, m in enumerate(MIGRATIONS, 1) if m == (COMPACT_SQL, _compact_briefs))
# the first format whose lexical index holds each CJK letter as its own token
SPLIT_CJK = next(k for k, m in enumerate(MIGRATIONS, 1) if m is SPLIT_CJK_MIGRATION)
# the first format with table pre_snapshot_versions
MERGED_PRE_SNAPSHOT = MIGRATIONS.index(PRE_SNAPSHOT_VERSIONS_SQL) + 1
# the first format with meta SNAPSHOT_LEDGER
LEDGERED = MIGRATIONS.index(("", _start_snapshot_ledger)) + 1
# how the bytes of a content were decoded for the model, by code (contents.encoding)
ENCODINGS = ("utf-8", "utf-16", "cp1252", "latin-1")

# Formats 2 and 3 are read as they are (readers never migrate): these temporary views, which
# shadow the file's own tables for one connection, show them as format 4 without checksums
OLD_FORMAT_VIEWS = """
CREATE TEMP VIEW briefs AS
    SELECT id, path, version, content_id AS content,
           COALESCE(CAST(strftime('%s', added_at) AS INTEGER), 0) AS added,
           path_key(path) AS pathkey, NULL AS checksum FROM main.briefs;
CREATE TEMP VIEW contents AS
    SELECT id, sha256, size, block_id AS block, block_offset,
           CASE encoding WHEN 'utf-8' THEN 0 WHEN 'utf-16' THEN 1 WHEN 'cp1252' THEN 2
                         ELSE 3 END AS encoding,
           n_vectors AS vectors, dict_id AS dict,
           CASE WHEN block_id IS NULL THEN data END AS frame, NULL AS checksum
    FROM main.contents;
CREATE TEMP VIEW blocks AS SELECT *, NULL AS checksum FROM main.blocks;
CREATE TEMP VIEW dicts AS SELECT *, NULL AS checksum FROM main.dicts;
CREATE TEMP VIEW vec_segments AS SELECT *, NULL AS checksum FROM main.vec_segments;
CREATE TEMP VIEW meta AS SELECT *, NULL AS checksum FROM main.meta
"""


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an archive up to FORMAT_VERSION; the caller holds a write transaction."""
    for version in range(current_version(conn), FORMAT_VERSION):
        migration = MIGRATIONS[version]
        sql, step = (migration, None) if isinstance(migration, str) else migration
        for statement in sql.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        if step is not None:
            step(conn)
        conn.execute(f"PRAGMA user_version = {version + 1}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    if FORMAT_VERSION >= CHECKSUMMED:  # the table definitions are checksummed as well
        digest = schema_digest(conn.execute(SCHEMA_SQL).fetchall())
        rows.put(conn, "meta", ("schema", json.dumps(digest)))


def schema_digest(entries: list[tuple[object, ...]]) -> str:
    """A digest of every table and index definition of the file (not where they start):
    `entries` is SCHEMA_SQL's result."""
    return f"{rows.row_sum('meta', [v for entry in entries for v in entry]) & (2**64 - 1):016x}"


SCHEMA_SQL = "SELECT type, name, tbl_name, sql FROM main.sqlite_master ORDER BY type, name"


# Bits per dimension of the rescoring codes, chosen when an archive is created. "small" halves
# them: vectors 449 -> 257 B a row, and in the search benchmark (20k Debian descriptions) its
# recall@10 matched int8's, but its cosines are coarser (within ~0.01 instead of ~0.001)
PROFILES = {"default": 8, "small": 4}


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
        from ..quantize import RescoreCodes

        return RescoreCodes(self.rescore_bits)

    @property
    def profile(self) -> str:
        return next(name for name, bits in PROFILES.items() if bits == self.rescore_bits)


def read_meta(db: Connection) -> Meta:
    raw = db.query("SELECT key, value, checksum FROM meta")
    (version,), = db.query("PRAGMA user_version")
    if version >= CHECKSUMMED:
        damaged = [str(key) for key, value, checksum in raw
                   if checksum != rows.row_sum("meta", (key, value))]
        if damaged:
            raise ArchiveError(f"{db.path}: archive metadata is damaged ({', '.join(damaged)}"
                               "); run `briefmin verify`")
    values = {key: value for key, value, _ in raw}
    try:
        return Meta(
            format_version=int(version),
            model_id=json.loads(values["model_id"]),
            dim=int(json.loads(values.get("dim", "0"))),
            chunk_tokens=int(json.loads(values.get("chunk_tokens", "0"))),
            chunk_overlap=int(json.loads(values.get("chunk_overlap", "0"))),
            int8_step=float(json.loads(values.get("int8_step", "0"))),
            created_at=json.loads(values.get("created_at", '""')),
            rescore_bits=_rescore_bits(json.loads(values.get("rescore_bits", "8"))),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ArchiveError(f"{db.path}: archive metadata is damaged ({exc})") from exc


def write_meta(conn: Connection | sqlite3.Connection, values: dict[str, object]) -> None:
    rows.put_many(conn, "meta", [(k, json.dumps(v)) for k, v in values.items()])


def _rescore_bits(value: object) -> int:
    if not isinstance(value, int) or value not in PROFILES.values():
        raise ValueError(f"rescore_bits {value!r}")
    return value
