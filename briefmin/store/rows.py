"""Rows as format 4 stores them: every row of every table carries `checksum`, a blake2b of its
table's name and all its other values (id included), so `verify` finds a changed value, a
value of another type, and a row moved to another id or table. Every write goes through `put`,
so no row is stored without its checksum.

blake2b from the standard library: ~450 MB/s on this machine under load; `verify` already
inflates and sha256-hashes every brief (~620 MB/s), so a faster hash (xxhash) would shorten
it little and add a dependency."""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

# the columns of each table, checksum excluded, in the order they are hashed
COLUMNS: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "dicts": ("id", "data"),
    "blocks": ("id", "dict_id", "size", "data"),
    "contents": ("id", "sha256", "size", "block", "block_offset", "encoding", "vectors",
                 "dict", "frame"),
    "briefs": ("id", "path", "version", "content", "added", "pathkey"),
    "vec_segments": ("id", "n", "content_ids", "kinds", "spans", "bits", "int8"),
    # format 5 (snapshots)
    "snapshots": ("id", "time", "host", "roots", "tags", "chain", "files", "bytes", "added",
                  "changed", "deleted", "names", "top"),
    "snapshot_spans": ("chain", "brief_id", "first", "last"),
    # tiers (schema.TIERS_SQL)
    "vec_codes": ("segment", "bits"),
    # the compact catalogue (schema.COMPACT_SQL)
    "times": ("id", "time"),
    # schema.PRE_SNAPSHOT_VERSIONS_SQL
    "pre_snapshot_versions": ("brief_id",),
}
# catalogue rows and snapshot spans are many and small: 32 bits each (a damaged row passes
# with odds of 2^-32); the rest are few: 64 bits
SUM_BYTES = {"briefs": 4, "contents": 4, "snapshot_spans": 4, "pre_snapshot_versions": 4}

_TAG_INT = struct.Struct("<cq").pack  # a one-byte tag and a 64-bit integer


class Executes(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, rows: Any, /) -> Any: ...


def checked_columns(table: str) -> str:
    """The table's columns and then its checksum, for a SELECT whose rows are checked with
    `row_sum(table, row[:-1]) == row[-1]`."""
    return ", ".join((*COLUMNS[table], "checksum"))


def row_sum(table: str, values: Sequence[Any]) -> int:
    """The checksum of one row's values (everything but `checksum`), as a signed integer."""
    h = _hasher(table).copy()
    update = h.update
    for value in values:
        # the common cells by their exact type first: `add` sums ~3 rows per brief
        kind = type(value)
        if kind is int and -(1 << 63) <= value < 1 << 63:
            update(_TAG_INT(b"i", value))
        elif value is None:
            update(b"n")
        elif kind is str:
            data = value.encode("utf-8", "surrogatepass")
            update(_TAG_INT(b"t", len(data)))
            update(data)
        elif kind is bytes:
            update(_TAG_INT(b"b", len(value)))
            update(value)
        elif isinstance(value, int):  # subclasses (bool), and integers beyond 64 bits
            update(_TAG_INT(b"i", value) if -(1 << 63) <= value < 1 << 63
                   else b"I" + str(value).encode())
        elif isinstance(value, float):
            update(b"f" + struct.pack("<d", value))
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            update(_TAG_INT(b"t", len(data)) + data)
        else:
            data = bytes(value)
            update(_TAG_INT(b"b", len(data)) + data)
    return int.from_bytes(h.digest(), "little", signed=True)


@functools.cache
def _hasher(table: str) -> Any:
    """A blake2b that has hashed the table's name, for row_sum to copy."""
    return hashlib.blake2b(table.encode(), digest_size=SUM_BYTES.get(table, 8))


def path_key(path: str) -> int:
    """32 bits of the path's hash: formats 4-7 index `briefs` by this; format 8 stores 0
    (no index) and `verify` still checks the keys of older rows."""
    digest = hashlib.blake2b(path.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "little", signed=True)


def _insert_sql(table: str) -> str:
    columns = COLUMNS[table]
    return (f"INSERT OR REPLACE INTO {table}({', '.join(columns)}, checksum) "
            f"VALUES ({', '.join('?' * (len(columns) + 1))})")


def put(db: Executes, table: str, row: Sequence[Any]) -> None:
    """Insert a row (all of COLUMNS[table], in order), or replace the row with its key."""
    db.execute(_insert_sql(table), (*row, row_sum(table, row)))


def put_many(db: Executes, table: str, rows: Iterable[Sequence[Any]]) -> None:
    db.executemany(_insert_sql(table), [(*row, row_sum(table, row)) for row in rows])


def next_id(db: Any, table: str) -> int:
    """The id a new row gets (ids are part of the checksum, so they are chosen first)."""
    (top,), = db.query(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    return int(top) + 1


def backfill(conn: Executes) -> None:
    """Give every row its checksum (and every brief its path key): the Python half of the
    migration to format 4. Tables of later formats do not exist yet then, and are skipped."""
    rows = conn.execute("SELECT rowid, path FROM briefs").fetchall()
    conn.executemany("UPDATE briefs SET pathkey = ? WHERE rowid = ?",
                     [(path_key(path), rowid) for rowid, path in rows])
    present = {name for (name,) in conn.execute(
        "SELECT name FROM main.sqlite_master WHERE type = 'table'").fetchall()}
    for table, columns in COLUMNS.items():
        if table not in present:
            continue
        key = row_key(conn, table)
        rows = conn.execute(f"SELECT {', '.join(key)}, {', '.join(columns)} "
                            f"FROM {table}").fetchall()
        match = " AND ".join(f"{k} = ?" for k in key)
        conn.executemany(f"UPDATE {table} SET checksum = ? WHERE {match}",
                         [(row_sum(table, row[len(key):]), *row[:len(key)]) for row in rows])


def row_key(conn: Executes, table: str) -> tuple[str, ...]:
    """The columns that find one row of `table`: its rowid, or the primary key of a table
    WITHOUT ROWID (which has no rowid)."""
    info = conn.execute(f"PRAGMA main.table_info({table})").fetchall()
    (without_rowid,), = conn.execute(
        "SELECT sql LIKE '%WITHOUT ROWID%' FROM main.sqlite_master WHERE name = ?",
        (table,)).fetchall()
    if not without_rowid:
        return ("rowid",)
    # table_info: (cid, name, type, notnull, default, pk position or 0)
    return tuple(name for _, name in sorted((r[5], r[1]) for r in info if r[5]))
