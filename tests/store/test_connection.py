"""store/connection.py: what is refused at open (not an archive, a newer format, another model)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive
from briefmin.errors import ArchiveError, ModelError, NewerFormatError

from .. import surgery

MakeArchive = Callable[..., Path]


def test_newer_format_is_refused(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"a.md": b"text\n"})
    surgery.execute(path, "PRAGMA user_version = 99")
    with pytest.raises(NewerFormatError, match="newer briefmin"):
        Archive.open(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"just some notes\n", "not a briefmin archive"),
    (b"PK\x03\x04" + bytes(100), "not a briefmin archive"),
])
def test_non_archives_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.bmin"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=message):
        Archive.open(path)
    assert path.read_bytes() == content


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    surgery.execute(path, "CREATE TABLE t (x)")
    with pytest.raises(ArchiveError, match="not a briefmin archive"):
        Archive.open(path, write=True)


def test_other_model_is_refused(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"a.md": b"text\n"})
    with pytest.raises(ModelError, match="was made with model 'hashing:384'"):
        Archive.open(path, write=True, model="hashing:256")
