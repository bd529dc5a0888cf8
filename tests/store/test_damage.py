"""Damage of any one stored value is found by `verify`: exit 1 naming what is damaged (or 3
when the archive cannot be read at all), never 0, never a traceback.

"Damage" is judged by what a full SQL dump shows: a change it does not show (a free page,
padding, an index entry SQLite can rebuild) loses nothing and need not be found."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from briefmin import Archive, Source, add
from briefmin.ingest import SnapshotSpec
from briefmin.store import rows

from .. import surgery
from ..conftest import HASHING, Cli

# what a problem's message says for damage in each table
NAMED = {"meta": "metadata", "dicts": "dictionary", "blocks": "block",
         "contents": "stored item", "briefs": "brief", "vec_segments": "vector segment",
         "snapshots": "snapshot", "snapshot_spans": "snapshot"}


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with every kind of row: a trained dictionary, blocks with and without it,
    several vector segments, chunked briefs, versions and a shared content, two snapshots
    (the second closes the spans of the briefs it no longer holds)."""
    rng = random.Random(7)
    words = ["budget", "launch", "risk", "owner", "scope", "legal", "design", "user", "cache",
             "pricing", "review", "timeline", "customer", "invoice", "latency", "rollout"]

    head = ("Constraints: budget, timeline, legal review and a security sign-off before "
            "launch.\nStakeholders: product, engineering, legal, finance, customer success "
            "and support.\nProcess: draft, review with the owners, decide in the weekly "
            "planning meeting.\nRisks: scope creep, unclear ownership, customer impact during "
            "the rollout window.\n")

    def text(i: int, n: int) -> bytes:
        # short briefs sharing boilerplate: what a trained dictionary pays off on
        body = " ".join(rng.choice(words) + str(rng.randrange(50)) for _ in range(n))
        return f"# Brief {i}\n\nGoal: ship feature {i} for team {i % 5}.\n{head}\n{body}\n".encode()

    briefs = {f"team{i % 4}/b{i:03d}.md": text(i, 30) for i in range(330)}
    path = tmp_path_factory.mktemp("damage") / "a.bmin"
    with Archive.open(path, write=True, create=True, model=HASHING) as archive:
        # past the dictionary's training threshold: later blocks use the dictionary
        add(archive, [Source(name, None, data) for name, data in briefs.items()],
            snapshot=night(1))
        add(archive, [Source("long.md", None, text(999, 3000)),  # several chunks
                      Source("team0/b000.md", None, b"a second version\n"),
                      Source("new.md", None, text(5, 300)),
                      Source("team1/b001-copy.md", None, briefs["team1/b001.md"])],
            snapshot=night(2))
        info = archive.info()
        assert info["dictionaries"] == 1 and info["snapshots"] == 2 and archive.verify().ok
    return path


def night(day: int) -> SnapshotSpec:
    return SnapshotSpec(datetime(2026, 3, day, 2, 0, tzinfo=UTC), "host", ("team",), ("nightly",))


def tables(path: Path) -> dict[str, tuple[tuple[str, ...], list[str]]]:
    """Every table the file holds (sqlite_master, not rows.COLUMNS: a table that no code
    checksums must not slip by), as its row key (rowid, or the primary key of a table WITHOUT
    ROWID) and all its columns."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                            "'table' ORDER BY name")]
        return {name: (rows.row_key(conn, name),
                       [c[1] for c in conn.execute(f"PRAGMA table_info({name})")])
                for name in names}
    finally:
        conn.close()


def dump(path: Path) -> list[str] | None:
    """The full SQL dump of an archive file, or None when SQLite cannot produce it."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return list(conn.iterdump())
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError):
        return None


def changed(value: Any, column: str, key: tuple[str, ...] = ("id",)) -> Any:
    """The value with one part of it changed: a bit of a blob, a character of a text, an
    integer moved (ids and other key columns far enough to stay unique)."""
    if value is None:
        return 1
    if isinstance(value, bytes):
        damaged = bytearray(value)
        damaged[len(damaged) // 2] ^= 0x10
        return bytes(damaged)
    if isinstance(value, str):
        k = len(value) // 2
        return value[:k] + chr(ord(value[k]) ^ 1) + value[k + 1:]
    return value + (1_000_003 if column == "id" or column in key else 1)


def check_verify(cli: Cli, path: Path, what: str, table: str | None) -> int:
    result = cli("verify", path, "--json")
    assert result.returncode in (1, 3), f"{what}: verify exited {result.returncode}"
    assert "Traceback" not in result.stderr, what
    if result.returncode == 1:
        problems = json.loads(result.stdout)["problems"]
        assert problems, what
        if table is not None:
            messages = " ".join(p["message"] for p in problems)
            assert NAMED[table] in messages or "SQLite integrity" in messages, \
                (what, messages)
    else:
        assert len(result.stderr.strip().splitlines()) == 1, (what, result.stderr)
    return int(result.returncode)


def test_every_column_of_every_table_is_covered(real_archive: Path, tmp_path: Path,
                                                cli: Cli) -> None:
    original = dump(real_archive)
    found = tables(real_archive)
    # every table is one `verify` checks, and names (a new table must be added to both)
    assert set(found) == set(rows.COLUMNS) == set(NAMED)
    covered: set[tuple[str, str]] = set()
    for table, (key, columns) in found.items():
        assert set(columns) == {*rows.COLUMNS[table], "checksum"}, table
        keys = surgery.execute(real_archive, f"SELECT {', '.join(key)} FROM {table} "
                                             f"ORDER BY {', '.join(key)}")
        assert keys, table
        where = " AND ".join(f"{k} = ?" for k in key)
        for at in sorted({keys[0], keys[len(keys) // 2], keys[-1]}):
            for column in columns:
                path = tmp_path / "damaged.bmin"
                shutil.copyfile(real_archive, path)
                (value,), = surgery.execute(path, f"SELECT {column} FROM {table} "
                                                  f"WHERE {where}", at)
                surgery.execute(path, f"UPDATE {table} SET {column} = ? WHERE {where}",
                                (changed(value, column, key), *at))
                assert dump(path) != original  # every change here shows in the dump
                check_verify(cli, path, f"{table}.{column} of row {at}", table)
                covered.add((table, column))
    assert covered == {(t, c) for t, (_, columns) in found.items() for c in columns}


def test_a_closed_snapshot_span_is_checked(real_archive: Path, tmp_path: Path,
                                           cli: Cli) -> None:
    """A span's `last` is set after it was first put: the row is put again with its
    checksum, and a span reopened behind verify's back names the brief it holds."""
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    (brief_id, last), = surgery.execute(
        path, "SELECT s.brief_id, s.last FROM snapshot_spans s JOIN briefs b "
              "ON b.id = s.brief_id WHERE b.path = 'team2/b010.md'")
    assert last == 1  # not in the second snapshot
    surgery.execute(path, "UPDATE snapshot_spans SET last = NULL WHERE brief_id = ?",
                    (brief_id,))
    result = cli("verify", path, "--json")
    assert result.returncode == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["paths"] == ["team2/b010.md"] and "snapshot" in problem["message"]


def test_a_damaged_brief_row_is_named(real_archive: Path, tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    surgery.execute(path, "UPDATE briefs SET version = 7 WHERE path = 'team2/b010.md'")
    result = cli("verify", path, "--json")
    assert result.returncode == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["paths"] == ["team2/b010.md"] and "catalogue row" in problem["message"]


def test_a_damaged_vector_segment_names_the_briefs_it_holds(real_archive: Path,
                                                             tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    (seg_id, codes), = surgery.execute(path, "SELECT id, int8 FROM vec_segments "
                                             "ORDER BY id LIMIT 1")
    surgery.execute(path, "UPDATE vec_segments SET int8 = ? WHERE id = ?",
                    (changed(codes, "int8"), seg_id))
    result = cli("verify", path, "--json")
    assert result.returncode == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert "vector segment" in problem["message"] and len(problem["paths"]) > 10


@pytest.mark.skipif(not os.environ.get("BRIEFMIN_BITFLIPS"),
                    reason="1,000 random bit flips (a few minutes): BRIEFMIN_BITFLIPS=1000")
def test_random_bit_flips_are_found(real_archive: Path, tmp_path: Path, cli: Cli) -> None:
    """Flip random bits of the file, one at a time: whenever the dump changes, verify must
    not pass. Prints how many flips changed the dump and how verify answered."""
    flips = int(os.environ["BRIEFMIN_BITFLIPS"])
    rng = random.Random(int(os.environ.get("BRIEFMIN_BITFLIPS_SEED", "1")))
    original_bytes = real_archive.read_bytes()
    original = dump(real_archive)
    tally = {"unchanged dump": 0, "exit 1": 0, "exit 3": 0}
    path = tmp_path / "flipped.bmin"
    for _ in range(flips):
        data = bytearray(original_bytes)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))
        if dump(path) == original:
            tally["unchanged dump"] += 1
            continue
        code = check_verify(cli, path, f"bit {bit}", None)
        tally[f"exit {code}"] += 1
    print(f"\n{flips} random bit flips of a {len(original_bytes)}-byte archive: {tally}")
