"""Damage done to archives on purpose, as disks, old versions or hostile files would: the only
place outside briefmin/store where tests write SQL against an archive."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from briefmin import codec
from briefmin.store import rows, schema


def execute(archive: str | os.PathLike[str], sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Run one statement on the archive's file behind briefmin's back; returns its rows."""
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def drop_brief_row(archive: str | os.PathLike[str], path: str) -> None:
    """Delete a brief's row and take it out of the snapshots as `rm` does (their entries,
    their file counts): its content is left behind, orphaned."""
    from briefmin.store import connection, snapshots

    execute(archive, "DELETE FROM briefs WHERE path = ?", (path,))
    db = connection.connect(os.fspath(archive), True, None)
    try:
        with db.transaction():
            snapshots.drop_missing_briefs(db)
    finally:
        db.close()


def flip_stored_byte(archive: str | os.PathLike[str], brief: str, where: float = 0.5) -> None:
    """Damage the stored bytes of `brief` the way a disk would: flip one byte, in place, in
    the zstd frame that holds it (its solid block)."""
    (block_id,), = execute(archive, "SELECT c.block FROM contents c JOIN briefs b "
                                    "ON b.content = c.id WHERE b.path = ?", (brief,))
    (frame,), = execute(archive, "SELECT data FROM blocks WHERE id = ?", (block_id,))
    damaged = bytearray(frame)
    damaged[int(len(damaged) * where)] ^= 0x01
    execute(archive, "UPDATE blocks SET data = ? WHERE id = ?", (bytes(damaged), block_id))


def rename_brief(archive: str | os.PathLike[str], brief_id: int, name: str) -> None:
    """Give a brief row another name, with the checksum that vouches for it: a hostile
    archive, not a damaged one (whose row a restore refuses for its checksum alone)."""
    execute(archive, "UPDATE briefs SET path = ? WHERE id = ?", (name, brief_id))
    (row,) = execute(archive, f"SELECT {', '.join(rows.COLUMNS['briefs'])} FROM briefs "
                              "WHERE id = ?", (brief_id,))
    execute(archive, "UPDATE briefs SET checksum = ? WHERE id = ?",
            (rows.row_sum("briefs", row), brief_id))


def set_added_at(archive: str | os.PathLike[str], unix_seconds: int) -> None:
    """Give every brief the time `unix_seconds`, with checksums that vouch for it (versions
    added within one second, as a fast script's adds are)."""
    (count,), = execute(archive, "SELECT COUNT(*) FROM times")
    set_times(archive, [unix_seconds] * count)


def set_times(archive: str | os.PathLike[str], unix_seconds: Sequence[int]) -> None:
    """Give the k-th `times` row (by id: the k-th add's) the k-th time, with its checksum."""
    ids = [row[0] for row in execute(archive, "SELECT id FROM times ORDER BY id")]
    assert len(ids) == len(unix_seconds), (ids, unix_seconds)
    for time_id, seconds in zip(ids, unix_seconds, strict=True):
        execute(archive, "UPDATE times SET time = ?, checksum = ? WHERE id = ?",
                (seconds, rows.row_sum("times", (time_id, seconds)), time_id))


def segment_sizes(archive: str | os.PathLike[str]) -> list[int]:
    """Rows per vector segment, smallest first."""
    return sorted(n for (n,) in execute(archive, "SELECT n FROM vec_segments"))


def write_format_10(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 10 (before the ledger of the snapshots), as
    briefmin 10 wrote it."""
    execute(archive, "DELETE FROM meta WHERE key = ?", (schema.SNAPSHOT_LEDGER,))
    execute(archive, "PRAGMA user_version = 10")


def write_format_9(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 9 (before `merge` marked the versions it
    brought from before an input's snapshots), as briefmin 9 wrote it."""
    write_format_10(archive)
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("DROP TABLE pre_snapshot_versions")
        conn.execute("PRAGMA user_version = 9")
        digest = schema.schema_digest(conn.execute(schema.SCHEMA_SQL).fetchall())
        rows.put(conn, "meta", ("schema", json.dumps(digest)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_format_8(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 8 (before each CJK letter was a token of its
    own), as briefmin 8 wrote it: its lexical index built again from the stored texts with a
    run of CJK letters as one token."""
    from briefmin import Archive
    from briefmin.store import lexical

    write_format_9(archive)
    with Archive.open(archive) as opened:
        ids = [i for (i,) in execute(archive, "SELECT id FROM contents")]
        texts = [(i, lexical.indexed_text(opened.text(i), split_cjk=False)) for i in ids]
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO lexical(lexical) VALUES ('delete-all')")
        conn.executemany("INSERT INTO lexical(rowid, text) VALUES (?, ?)", texts)
        conn.execute("INSERT INTO lexical(lexical) VALUES ('optimize')")
        conn.execute("PRAGMA user_version = 8")
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_format_7(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 7 (before the compact catalogue), as briefmin
    7 wrote it: indexes of briefs by path key and content and of contents by a sha256
    prefix, each brief row with its path key and its time in unix seconds, no `times`."""
    write_format_8(archive)
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        conn.execute("BEGIN")
        found = conn.execute("SELECT b.id, b.path, b.version, b.content, t.time FROM briefs b "
                             "JOIN times t ON t.id = b.added").fetchall()
        rows.put_many(conn, "briefs", [(i, path, version, content, added, rows.path_key(path))
                                       for i, path, version, content, added in found])
        for statement in ("DROP TABLE times", "CREATE INDEX briefs_path ON briefs(pathkey)",
                          "CREATE INDEX briefs_content ON briefs(content)",
                          "CREATE INDEX contents_sha ON contents(substr(sha256, 1, 4))",
                          "PRAGMA user_version = 7"):
            conn.execute(statement)
        digest = schema.schema_digest(conn.execute(schema.SCHEMA_SQL).fetchall())
        rows.put(conn, "meta", ("schema", json.dumps(digest)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_format_4(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 4 (what briefmin wrote before snapshots), as an
    archive written by an older briefmin: no snapshot tables, their digest of the table
    definitions."""
    write_format_7(archive)
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        conn.executescript("""
            BEGIN;
            DROP TABLE snapshot_spans;
            DROP TABLE snapshots;
            DROP TABLE IF EXISTS vec_codes;
            DELETE FROM meta WHERE key IN ('snapshot_seq', 'pre_snapshot_top');
            PRAGMA user_version = 4;
            COMMIT;
        """)
        digest = schema.schema_digest(conn.execute(schema.SCHEMA_SQL).fetchall())
        rows.put(conn, "meta", ("schema", json.dumps(digest)))
    finally:
        conn.close()


def write_format_3(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 3 (what briefmin wrote before checksums), as an
    archive written by an older briefmin."""
    write_format_4(archive)
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        conn.executescript("""
            BEGIN;
            CREATE TABLE briefs_v3 (
                id INTEGER PRIMARY KEY, path TEXT NOT NULL, version INTEGER NOT NULL,
                content_id INTEGER NOT NULL REFERENCES contents(id), added_at TEXT NOT NULL,
                UNIQUE (path, version));
            INSERT INTO briefs_v3 SELECT id, path, version, content,
                strftime('%Y-%m-%dT%H:%M:%S+00:00', added, 'unixepoch') FROM briefs;
            DROP TABLE briefs;
            ALTER TABLE briefs_v3 RENAME TO briefs;
            CREATE INDEX briefs_content ON briefs(content_id);
            CREATE TABLE contents_v3 (
                id INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE, size INTEGER NOT NULL,
                dict_id INTEGER REFERENCES dicts(id), data BLOB NOT NULL,
                encoding TEXT NOT NULL, n_vectors INTEGER NOT NULL,
                block_id INTEGER REFERENCES blocks(id), block_offset INTEGER);
            INSERT INTO contents_v3 SELECT id, sha256, size, dict, COALESCE(frame, x''),
                CASE encoding WHEN 0 THEN 'utf-8' WHEN 1 THEN 'utf-16' WHEN 2 THEN 'cp1252'
                              ELSE 'latin-1' END, vectors, block, block_offset FROM contents;
            DROP TABLE contents;
            ALTER TABLE contents_v3 RENAME TO contents;
            CREATE INDEX contents_block ON contents(block_id);
            ALTER TABLE blocks DROP COLUMN checksum;
            ALTER TABLE dicts DROP COLUMN checksum;
            ALTER TABLE vec_segments DROP COLUMN checksum;
            DROP TABLE IF EXISTS lexical;
            DELETE FROM meta WHERE key IN ('schema', 'lexical_backfill');
            ALTER TABLE meta DROP COLUMN checksum;
            PRAGMA user_version = 3;
            COMMIT;
        """)
    finally:
        conn.close()


def write_format_5(archive: str | os.PathLike[str]) -> None:
    """Turn a current archive back into format 5 (checksummed rows, no lexical index), as an
    archive written by a briefmin of formats 4-5."""
    write_format_7(archive)
    execute(archive, "DROP TABLE lexical")
    execute(archive, "DROP TABLE IF EXISTS vec_codes")
    execute(archive, "DELETE FROM meta WHERE key = 'lexical_backfill'")
    execute(archive, "PRAGMA user_version = 5")
    digest = schema.schema_digest(execute(archive, schema.SCHEMA_SQL))
    value = json.dumps(digest)
    execute(archive, "UPDATE meta SET value = ?, checksum = ? WHERE key = 'schema'",
            (value, rows.row_sum("meta", ("schema", value))))


def write_format_1(archive: str | os.PathLike[str], model_id: str, path: str,
                   data: bytes) -> None:
    """An archive as briefmin's first format wrote it: one brief in a zstd frame of its own."""
    conn = sqlite3.connect(archive, isolation_level=None)
    try:
        for statement in schema.MIGRATIONS[0].split(";\n"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("model_id", json.dumps(model_id)), ("dim", "0"), ("int8_step", "0"),
            ("chunk_tokens", "0"), ("chunk_overlap", "32"), ("created_at", '"then"')])
        conn.execute("INSERT INTO contents(sha256, size, data, encoding, n_vectors) "
                     "VALUES (?, ?, ?, 'utf-8', 0)",
                     (codec.sha256(data), len(data), codec.compress(data)))
        conn.execute("INSERT INTO briefs(path, version, content_id, added_at) "
                     "VALUES (?, 1, 1, 'then')", (path,))
    finally:
        conn.close()
