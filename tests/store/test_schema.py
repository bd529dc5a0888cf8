"""store/schema.py: older formats are read as they are and migrated by a writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive, add, iter_sources
from briefmin.errors import ArchiveError

from .. import surgery
from ..conftest import HASHING

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
