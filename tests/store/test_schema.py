"""store/schema.py: older formats are read as they are and migrated by a writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive, add, iter_sources
from briefmin.errors import ArchiveError

from .. import surgery
from ..conftest import HASHING, Cli

MakeArchive = Callable[..., Path]


def archive_name(path: Path) -> str:
    from briefmin.sources import archive_name as name

    return name(str(path))


def test_format_1_archive_is_migrated_forward_and_stays_readable(tmp_path: Path) -> None:
    """A format-1 archive (one zstd frame per brief, no blocks table) opens for writing,
    migrates to the current format, and its old items still restore byte-exact."""
    from briefmin.store import schema

    path = tmp_path / "old.bmin"
    data = b"an old brief, stored by format 1\n"
    surgery.write_format_1(path, HASHING, "old.md", data)
    with pytest.raises(ArchiveError, match="older"):
        Archive.open(path)  # readers never migrate behind a writer's back
    new = tmp_path / "new.md"
    new.write_bytes(b"a new brief in a block\n")
    with Archive.open(path, write=True) as archive:
        assert archive.meta.format_version == schema.FORMAT_VERSION
        add(archive, iter_sources([str(new)]))
    with Archive.open(path) as archive:
        old_record, new_record = archive.records(["old.md", archive_name(new)])
        assert archive.read(old_record) == data
        assert archive.read(new_record) == new.read_bytes()


def test_a_format_2_archive_is_read_as_it_is_and_upgraded_by_a_writer(
        hashing_archive: MakeArchive) -> None:
    from briefmin.store import schema

    path = hashing_archive({"a.md": b"a brief from before profiles\n"})
    surgery.write_format_3(path)
    surgery.execute(path, "DELETE FROM meta WHERE key = 'rescore_bits'")
    surgery.execute(path, "PRAGMA user_version = 2")
    before = path.read_bytes()
    with Archive.open(path) as archive:  # readers need no migration
        assert archive.meta.profile == "default" and archive.verify().ok
        (record,) = archive.records()
        assert archive.read(record) == b"a brief from before profiles\n"
        assert record.added_at.endswith("+00:00") and record.encoding == "utf-8"
        assert len(archive.vectors()) == 1
    assert path.read_bytes() == before
    with Archive.open(path, write=True) as archive:
        assert archive.meta.format_version == schema.FORMAT_VERSION
        assert archive.meta.rescore_bits == 8
        assert archive.verify().ok
        assert archive.records()[0].added_at == record.added_at


def _catalogue_indexes(path: Path) -> set[str]:
    return {name for (name,) in surgery.execute(
        path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN "
              "('briefs', 'contents')")}


def test_a_format_7_archive_is_read_as_it_is_and_compacted_by_a_writer(
        hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """Format 8 drops the catalogue's indexes and interns the times: a reader of format 7
    sees the same records and a verified archive without changing the file; a writer
    migrates it, keeps every record (times included) and adds to it."""
    from briefmin.store import schema

    path = hashing_archive({"a.md": b"first brief\n", "docs/b.md": b"second brief\n",
                            "docs/c.md": b"first brief\n"})
    surgery.write_format_7(path)
    assert _catalogue_indexes(path) == {"briefs_path", "briefs_content", "contents_sha"}
    before = path.read_bytes()
    with Archive.open(path) as archive:
        assert archive.meta.format_version == 7 and archive.verify().ok
        old = [r.to_json() for r in archive.records(all_versions=True)]
        hits = archive.records_of_contents([r.content_id for r in archive.records()])
    assert path.read_bytes() == before and len(old) == 3
    new = tmp_path / "d.md"
    new.write_bytes(b"second brief, changed\n")
    with Archive.open(path, write=True) as archive:
        assert archive.meta.format_version == schema.FORMAT_VERSION
        assert [r.to_json() for r in archive.records(all_versions=True)] == old
        assert archive.records_of_contents(list(hits)) == hits
        report = add(archive, iter_sources([str(new)]))
        assert len(report.added) == 1 and archive.verify().ok
        assert len(archive.records()) == 4
    assert _catalogue_indexes(path) == set()
    assert {k for (k,) in surgery.execute(path, "SELECT DISTINCT pathkey FROM briefs")} == {0}


def test_a_damaged_brief_row_stops_the_migration_and_changes_nothing(
        hashing_archive: MakeArchive, cli: Cli) -> None:
    """The migration rewrites every brief row (its time's id, no path key): a row whose
    checksum is already wrong must not come out with a valid one. The writer refuses with
    a one-line error, the file is unchanged, and verify still names the damage."""
    path = hashing_archive({"a.md": b"first brief\n", "b.md": b"second brief\n"})
    surgery.write_format_7(path)
    surgery.execute(path, "UPDATE briefs SET path = 'src/x.md' WHERE path = 'src/b.md'")
    before = path.read_bytes()
    with pytest.raises(ArchiveError, match=r"damaged.*not upgraded"):
        Archive.open(path, write=True)
    assert path.read_bytes() == before
    done = cli("verify", str(path))
    assert done.returncode == 1 and "x.md" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_tables_of_another_format_stop_the_upgrade_with_what_to_do(
        hashing_archive: MakeArchive, cli: Cli, tmp_path: Path) -> None:
    """A current archive whose format number was set back by hand (PRAGMA user_version=1):
    the upgrade's first statement met a table that exists, and the writer said only SQLite's
    "table blocks already exists". It says what happened and what to do, one line, exit 3,
    and the file is unchanged."""
    path = hashing_archive({"a.md": b"first brief\n"})
    surgery.execute(path, "PRAGMA user_version = 1")
    before = path.read_bytes()
    (tmp_path / "new.md").write_text("another brief\n")
    done = cli("add", str(path), str(tmp_path / "new.md"))
    assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot upgrade it from format 1 (table " in done.stderr
    assert done.stderr.rstrip().endswith("nothing was changed; restore it from a backup")
    assert path.read_bytes() == before
