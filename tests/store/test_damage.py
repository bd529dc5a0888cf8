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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from briefmin import Archive, Source, add
from briefmin.ingest import SnapshotSpec
from briefmin.store import rows
from briefmin.store.merge import merge

from .. import surgery
from ..conftest import HASHING, Cli

# what a problem's message says for damage in each table
NAMED = {"meta": "metadata", "dicts": "dictionary", "blocks": "block",
         "contents": "stored item", "briefs": "brief", "vec_segments": "vector segment",
         "lexical_data": "lexical index", "lexical_idx": "lexical index",
         "lexical_config": "lexical index", "snapshots": "snapshot",
         "snapshot_spans": "snapshot", "vec_codes": "vector segment", "times": "time",
         "pre_snapshot_versions": "merged from before"}


@pytest.fixture(scope="module")
def real_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with every kind of row: a trained dictionary, blocks with and without it,
    several vector segments, chunked briefs, versions and a shared content, the lexical
    index (FTS5's data, term b-tree and config tables), two snapshots (the second closes
    the spans of the briefs it no longer holds) and binary-tier vector rows."""
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
        # a segment of binary-tier rows (vec_codes, meta binary_decoder): the versions
        # neither latest nor in the newest snapshot
        assert archive.tier("binary", datetime.now(UTC)).rows > 0
        info = archive.info()
        assert info["dictionaries"] == 1 and info["snapshots"] == 2 and archive.verify().ok
    # a version merged from an archive without snapshots (pre_snapshot_versions)
    older = path.with_name("older.bmin")
    with Archive.open(older, write=True, create=True, model=HASHING) as archive:
        add(archive, [Source("old/notes.md", None, text(7, 20))], snapshot=night(1))
    surgery.write_format_4(older)
    with Archive.open(path, write=True) as archive, Archive.open(older) as source:
        merge(archive, [source])
        assert archive.verify().ok
    assert surgery.execute(path, "SELECT COUNT(*) FROM pre_snapshot_versions") == [(1,)]
    return path


def night(day: int) -> SnapshotSpec:
    return SnapshotSpec(datetime(2026, 3, day, 2, 0, tzinfo=UTC), "host", ("team",), ("nightly",))


def dump(path: Path) -> list[str] | None:
    """The full dump of an archive file (its schema and every row of every table, as
    `iterdump` would give them), or None when SQLite cannot produce it. Not `iterdump`
    itself: it scans virtual tables too, and a contentless FTS5 table cannot be scanned
    (its rows are in its shadow tables, dumped here like any other)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            out = []
            for name, sql in conn.execute("SELECT name, sql FROM sqlite_master "
                                          "ORDER BY type, name").fetchall():
                out.append(str(sql))
                if str(sql).startswith("CREATE TABLE"):
                    out.extend(map(repr, conn.execute(f'SELECT * FROM "{name}"')))
            return out
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError):
        return None


def changed(value: Any, column: str, key: Sequence[str] = ("id",)) -> Any:
    """The value with one part of it changed: a bit of a blob, a character of a text (an
    empty one gets one), an integer moved (ids and other key columns far enough to stay
    unique)."""
    if value is None:
        return 1
    if value == b"" or value == "":  # FTS5's first leaf of a segment has an empty key
        return b"x" if isinstance(value, bytes) else "x"
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


def stored_tables(path: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Every table of the file that holds rows (sqlite_master, not a list of what briefmin
    means to store): name -> (its columns, the columns that find one row). A virtual table
    holds none of its own (FTS5 keeps them in shadow tables, which are listed)."""
    out = {}
    for name, sql in surgery.execute(path, "SELECT name, sql FROM sqlite_master "
                                           "WHERE type = 'table' ORDER BY name"):
        if sql.startswith("CREATE VIRTUAL TABLE"):
            continue
        info = surgery.execute(path, f"PRAGMA table_info({name})")
        columns = [str(row[1]) for row in info]
        key = [str(r[1]) for r in sorted(info, key=lambda r: r[5]) if r[5]]
        out[name] = (columns, key if "WITHOUT ROWID" in sql.upper() else ["rowid"])
    return out


def test_every_column_of_every_table_is_covered(real_archive: Path, tmp_path: Path,
                                                cli: Cli) -> None:
    original = dump(real_archive)
    tables = stored_tables(real_archive)
    virtual = [name for (name,) in surgery.execute(
        real_archive, "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'")]
    assert virtual == ["lexical"] and {"lexical_data", "lexical_idx"} <= set(tables)
    # every table is one `verify` checks and names (a new table must be added to both)
    assert set(rows.COLUMNS) <= set(tables) and set(tables) <= set(NAMED)
    covered: set[tuple[str, str]] = set()
    for table, (columns, key) in tables.items():
        where = " AND ".join(f"{k} = ?" for k in key)
        ids = surgery.execute(real_archive, f"SELECT {', '.join(key)} FROM {table} "
                                            f"ORDER BY {', '.join(key)}")
        assert ids, table
        for row in sorted({ids[0], ids[len(ids) // 2], ids[-1]}):
            for column in columns:
                path = tmp_path / "damaged.bmin"
                shutil.copyfile(real_archive, path)
                (value,), = surgery.execute(path, f"SELECT {column} FROM {table} "
                                                  f"WHERE {where}", row)
                surgery.execute(path, f"UPDATE {table} SET {column} = ? WHERE {where}",
                                (changed(value, column, key), *row))
                assert dump(path) != original  # every change here shows in the dump
                check_verify(cli, path, f"{table}.{column} of row {row}", table)
                covered.add((table, column))
    assert covered == {(t, c) for t, (columns, _) in tables.items() for c in columns}


def test_a_blob_turned_text_is_found(real_archive: Path, tmp_path: Path, cli: Cli) -> None:
    """A flipped type byte that makes a blob cell text, its bytes unchanged (a session-43
    audit): `verify` read text that is not UTF-8 as the blob's bytes, which matched the
    row's checksum, so it said ok while `add` failed on the snapshot's names every night.
    Every checksummed blob column, turned text, is named now."""
    covered = []
    for table, (columns, key) in stored_tables(real_archive).items():
        if table not in rows.COLUMNS:
            continue  # derived tables (the lexical index's) have no checksums
        where = " AND ".join(f"{k} = ?" for k in key)
        for column in columns:
            found = surgery.execute(real_archive, f"SELECT {', '.join(key)} FROM {table} "
                                                  f"WHERE typeof({column}) = 'blob' LIMIT 1")
            if not found:
                continue
            path = tmp_path / "damaged.bmin"
            shutil.copyfile(real_archive, path)
            surgery.execute(path, f"UPDATE {table} SET {column} = CAST({column} AS TEXT) "
                                  f"WHERE {where}", found[0])
            check_verify(cli, path, f"{table}.{column} as text", table)
            covered.append(f"{table}.{column}")
    assert {"snapshots.names", "vec_segments.content_ids", "vec_segments.bits"} <= set(covered)


@pytest.mark.parametrize("column", ["content_ids", "kinds", "bits"])
def test_a_segment_cell_of_another_type_is_damage_to_search(real_archive: Path,
                                                            tmp_path: Path, cli: Cli,
                                                            column: str) -> None:
    """A vector segment's blob turned text: search, dedupe and rm exited 70 ("internal
    error") on numpy's TypeError. It is damage: exit 3, one line that points to `verify`
    (`bits` was already so for search and dedupe, not for rm)."""
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    surgery.execute(path, f"UPDATE vec_segments SET {column} = CAST({column} AS TEXT) "
                          "WHERE id = (SELECT MIN(id) FROM vec_segments)")
    removal = [("rm", path, "team2/b010.md")] if column == "content_ids" else []  # it reads
    # every segment's ids; another column only where the removed rows lie
    for args in (("search", path, "budget review", "--model", HASHING),
                 ("search", path, "budget review", "--mode", "lexical"), ("dedupe", path),
                 *removal):
        result = cli(*args)
        assert result.returncode == 3, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and "verify" in errors[0], (args, result.stderr)
        assert "Traceback" not in result.stderr


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


def _two_snapshots(tmp_path: Path, cli: Cli) -> Path:
    """A small archive of two snapshots, the second changing two briefs."""
    folder = tmp_path / "b"
    folder.mkdir()
    for i in range(40):
        (folder / f"b{i}.md").write_text(f"# Brief {i}\n\nAbout topic {i} and item {i * 7}.\n")
    path = tmp_path / "a.bmin"
    assert cli("add", path, folder, "--model", HASHING).returncode == 0
    for i in range(2):
        (folder / f"b{i}.md").write_text(f"changed {i}\n")
    assert cli("add", path, folder, "--model", HASHING).returncode == 0
    return path


def test_a_prune_that_removes_nothing_leaves_the_file_as_it_was(tmp_path: Path,
                                                                 cli: Cli) -> None:
    """VACUUM writes the whole file anew: only after a prune or tier that changed something
    (one that removed nothing rewrote the file, also over a damaged segment it never read)."""
    path = _two_snapshots(tmp_path, cli)
    before = path.read_bytes()
    assert cli("prune", path).returncode == 0
    assert path.read_bytes() == before
    tier = ("tier", path, "--older-than", "0h", "--codes", "small")
    assert cli(*tier).returncode == 0  # the two old versions' codes
    before = path.read_bytes()
    assert "re-encoded 0 vector row(s)" in cli(*tier).stderr
    assert path.read_bytes() == before
    forgot = cli("forget", path, "--keep-last", "1", "--prune", "--json")
    assert forgot.returncode == 0 and json.loads(forgot.stdout)["prune"]["versions"] == 2
    assert path.read_bytes() != before and cli("verify", path).returncode == 0


def test_a_prune_or_tier_refuses_a_file_sqlite_finds_damaged(tmp_path: Path,
                                                             cli: Cli) -> None:
    """A damaged b-tree page (a cell pointer out of range, as a torn write leaves it): the
    VACUUM at the end of a prune or a tier would copy what it can read into a sound-looking
    file, so both refuse, exit 3 in one line, and leave every byte as it was."""
    path = _two_snapshots(tmp_path, cli)
    (page_size,), = surgery.execute(path, "PRAGMA page_size")
    (root,), = surgery.execute(path, "SELECT rootpage FROM sqlite_schema "
                                     "WHERE name = 'snapshots_chain'")
    with path.open("r+b") as f:  # the first cell pointer of the index's leaf page
        f.seek((root - 1) * page_size + 8)
        f.write((page_size - 1).to_bytes(2, "big"))
    before = path.read_bytes()
    for args in (["prune"], ["forget", "--keep-last", "1", "--prune"],
                 ["tier", "--older-than", "0h", "--codes", "binary"]):
        refused = cli(args[0], path, *args[1:])
        assert refused.returncode == 3, (args, refused.stderr)
        assert refused.stderr.count("\n") == 1 and "the archive's file is damaged" in \
            refused.stderr and "nothing was changed" in refused.stderr
        assert path.read_bytes() == before, args


def test_a_damaged_vector_segment_names_the_briefs_it_holds(real_archive: Path,
                                                             tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    (seg_id, codes), = surgery.execute(path, "SELECT id, int8 FROM vec_segments "
                                             "ORDER BY n DESC LIMIT 1")
    surgery.execute(path, "UPDATE vec_segments SET int8 = ? WHERE id = ?",
                    (changed(codes, "int8"), seg_id))
    result = cli("verify", path, "--json")
    assert result.returncode == 1
    (problem,) = json.loads(result.stdout)["problems"]
    assert "vector segment" in problem["message"] and len(problem["paths"]) > 10


def test_lexical_entries_that_differ_from_the_text_name_their_brief(
        real_archive: Path, tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    (content,), = surgery.execute(path, "SELECT content FROM briefs "
                                        "WHERE path = 'team2/b010.md'")
    # a word the brief does not hold, indexed for it: FTS5's own check sees nothing wrong
    surgery.execute(path, "INSERT INTO lexical(rowid, text) VALUES (?, 'zanzibar')", (content,))
    surgery.execute(path, "INSERT INTO lexical(lexical) VALUES ('integrity-check')")
    result = cli("verify", path, "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    assert all("lexical index" in p["message"] for p in problems)
    assert [p["paths"] for p in problems if "entries" in p["message"]] == [["team2/b010.md"]]


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


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_a_size_of_another_type_is_damage_to_search(real_archive: Path, tmp_path: Path,
                                                    cli: Cli, mode: str) -> None:
    """A stored item's size turned into a blob (a flipped type byte): search read the sizes
    for BM25 without a checksum and exited 70 ("internal error … please report this
    bug"). It is damage: exit 3, one line naming the stored item and `verify`."""
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    surgery.execute(path, "UPDATE contents SET size = x'071e01' WHERE id = 5")
    result = cli("search", path, "budget review", "--mode", mode, "--model", HASHING)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"briefmin: error: {path}: the catalogue entry of stored item 5 is damaged (its id or "
        f"size); run `briefmin verify {path}`"]


def test_a_damaged_lexical_index_is_built_again_from_the_texts(
        real_archive: Path, tmp_path: Path, cli: Cli) -> None:
    """The index is derived data, yet damaged FTS5 records made every later write fail
    ("malformed", exit 3): `verify --rebuild-index` drops it and indexes the stored texts
    again, and the archive takes writes and finds its briefs by word once more."""
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    # garbage in every leaf of the index's segments (FTS5's own records, not SQLite's)
    surgery.execute(path, "UPDATE lexical_data SET block = zeroblob(length(block)) | "
                          "randomblob(length(block)) WHERE id > 10")
    damaged = cli("verify", path)
    assert damaged.returncode == 1 and "verify --rebuild-index" in damaged.stdout
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "n.md").write_text("The quokka migration plan.\n")
    # the add commits (a new segment reads no old one), and its index merge then fails:
    # a warning, not "exit 3, archive is damaged" for a run whose brief was committed
    added = cli("add", path, tmp_path / "new", "--model", HASHING)
    assert added.returncode == 0 and "everything is committed, but tidying" in added.stderr
    assert "run `briefmin verify`" in added.stderr
    assert "new/n.md" in cli("ls", path).stdout
    rebuilt = cli("verify", path, "--rebuild-index")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt the lexical index from" in rebuilt.stderr and "ok:" in rebuilt.stderr
    assert cli("add", path, tmp_path / "new", "--model", HASHING).returncode == 0
    for word, brief in (("quokka", "new/n.md"), ("feature 10", "team2/b010.md")):
        found = cli("search", path, word, "--mode", "lexical", "--json", "-k", "1")
        assert json.loads(found.stdout)[0]["path"].endswith(brief), (word, found.stdout)
    assert cli("verify", path).returncode == 0


def test_an_index_fts5_cannot_open_is_built_again_or_points_to_a_merge(
        real_archive: Path, tmp_path: Path, cli: Cli) -> None:
    """With FTS5's structure record gone it cannot open its table, so it cannot be dropped:
    search says to run verify, and `--rebuild-index` first resets FTS5's own records. Where
    even that cannot be done (a shadow table gone), the file is left as it was and the error
    names the way out, a merge into a new archive (which a table dropped by hand, as here,
    also refuses: the table definitions were altered)."""
    path = tmp_path / "a.bmin"
    shutil.copyfile(real_archive, path)
    surgery.execute(path, "DELETE FROM lexical_data WHERE id = 10")  # the structure record
    searched = cli("search", path, "feature", "--mode", "lexical")
    assert searched.returncode == 3 and "run `briefmin verify`" in searched.stderr
    assert cli("verify", path, "--rebuild-index").returncode == 0
    found = cli("search", path, "feature 10", "--mode", "lexical", "--json", "-k", "1")
    assert json.loads(found.stdout)[0]["path"].endswith("team2/b010.md")

    shutil.copyfile(real_archive, path)
    surgery.execute(path, "DROP TABLE lexical_config")
    before = path.read_bytes()
    rebuilt = cli("verify", path, "--rebuild-index")
    assert rebuilt.returncode == 3 and len(rebuilt.stderr.splitlines()) == 1
    assert f"briefmin merge NEW.bmin {path}" in rebuilt.stderr
    assert path.read_bytes() == before
