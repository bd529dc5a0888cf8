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


def test_a_reader_keeps_reading_after_a_writer_shrinks_the_file(
        hashing_archive: MakeArchive) -> None:
    """A reader that read codes in part maps the file (PRAGMA mmap_size): when a writer
    removes most briefs and VACUUM shrinks the file under it, the reader's next reads see the
    smaller archive, with the right bytes (SQLite remaps; no read past the new end), and its
    block cache does
    not serve the blocks the writer re-packed under the same ids (it did: "does not match its
    sha256")."""
    import os
    import random

    import numpy as np

    from briefmin.store import BRIEF_KINDS

    rng = random.Random(3)
    files = {f"b{i:03}.md": " ".join(f"w{rng.randrange(10**6)}" for _ in range(2000)).encode()
             for i in range(120)}
    path = hashing_archive(files)
    before = os.path.getsize(path)
    with Archive.open(path) as reader:
        assert reader._db.query("PRAGMA mmap_size")[0][0] == 0  # not for whole reads
        stored = reader.vectors(BRIEF_KINDS)
        stored.int8(np.arange(0, 120, 7))  # a rescoring read: in part
        assert reader._db.query("PRAGMA mmap_size")[0][0] > before
        records = reader.records()
        assert {r.path: reader.read(r) for r in records} == {f"src/{k}": v for k, v in
                                                            files.items()}
        with Archive.open(path, write=True) as writer:
            writer.rm([f"src/b{i:03}.md" for i in range(100)])
        assert os.path.getsize(path) < before / 2
        kept = reader.records()
        assert sorted(r.path for r in kept) == [f"src/b{i:03}.md" for i in range(100, 120)]
        assert all(reader.read(r) == files[r.path[4:]] for r in kept)
        assert len(reader.vectors(BRIEF_KINDS).content_ids) == 20


def test_a_read_transaction_holds_writers_back_until_it_ends(
        hashing_archive: MakeArchive) -> None:
    """Connection.reading: what is read within it is one state of the file; a writer's
    commit waits for its end (rollback journal), and `wal` tells the mode apart."""
    import sqlite3

    from briefmin.store import connection

    path = hashing_archive({"a.md": b"text\n"})
    db = connection.connect(str(path), False, None)
    writer = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    try:
        assert not db.wal
        with db.reading():
            (before,), = db.query("SELECT COUNT(*) FROM times")
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO times (id, time) VALUES (999, 1)")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                writer.execute("COMMIT")
            assert db.query("SELECT COUNT(*) FROM times") == [(before,)]
        writer.execute("COMMIT")
        assert db.query("SELECT COUNT(*) FROM times") == [(before + 1,)]
    finally:
        writer.close()
        db.close()


def test_a_new_archive_leaves_another_creators_temporary_file_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two machines creating archives in one shared folder can have the same process id:
    a temporary named by it alone was the other's half-made file, opened (here: not a
    database, so the create failed) and then deleted under it."""
    monkeypatch.setattr("os.getpid", lambda: 4242)
    others = tmp_path / ".a.bma.4242.new"
    others.write_bytes(b"another machine's archive, half written")
    Archive.open(tmp_path / "a.bma", write=True, create=True, model="hashing:384").close()
    assert others.read_bytes() == b"another machine's archive, half written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.bma.4242.new", "a.bma"]


def test_an_archive_name_near_the_longest_a_file_system_takes_is_created(
        tmp_path: Path) -> None:
    """A name of 240 characters is a valid file name (255 is the limit): the temporary file
    beside it, named after it with the process id and a token, went past the limit."""
    archive = tmp_path / ("n" * 240)
    Archive.open(archive, write=True, create=True, model="hashing:384").close()
    assert [p.name for p in tmp_path.iterdir()] == [archive.name]
