"""store/verify.py: verify names the damaged brief."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from briefmin import Archive, add, iter_sources

from ..conftest import HASHING
from ..surgery import flip_stored_byte


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def archive_name(path: Path) -> str:
    from briefmin.sources import archive_name as name

    return name(str(path))


def test_verify_names_the_damaged_brief(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_bytes(b"all good here\n" * 50)
    bad.write_bytes(b"soon broken\n" * 50)
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:  # two adds: each brief in a block of its own
        add(archive, iter_sources([str(good)]))
        add(archive, iter_sources([str(bad)]))
    flip_stored_byte(path, archive_name(bad))
    with Archive.open(path) as archive:
        report = archive.verify()
        (good_record,) = archive.records([archive_name(good)])
        assert archive.read(good_record) == good.read_bytes()
    assert not report.ok
    # its block fails its checksum and its bytes their sha256: both name the bad brief only
    assert {p.paths for p in report.problems} == {(archive_name(bad),)}


def test_an_add_committing_during_verify_is_no_damage(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """verify inflates every text, then counts the vector rows and compares the lexical
    index: an add that committed in between was reported as three kinds of damage (a
    vector count of a content verify had not seen, its index entries, the index's counts).
    verify now reads one state; in WAL mode the add commits at once, as here (in the default
    journal it waits for verify)."""
    from briefmin.store.blocks import Blocks

    monkeypatch.chdir(tmp_path)
    src = Path("src")
    src.mkdir()
    for i in range(5):
        (src / f"b{i}.md").write_text(f"brief {i} about apples and pears\n" * (i + 1))
    with open_new(Path("a.bmin")) as archive:
        add(archive, iter_sources(["src"]))
        archive.set_journal_mode("wal")
    real, added = Blocks.read_content, []

    def read_after_an_add(self: Blocks, *args: Any, **kwargs: Any) -> bytes:
        if not added:
            (src / "late.md").write_text("a late brief about figs\n")
            with Archive.open("a.bmin", write=True) as writer:
                added.append(len(add(writer, iter_sources(["src/late.md"])).added))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Blocks, "read_content", read_after_an_add)
    with Archive.open("a.bmin") as archive:
        report = archive.verify()
    assert added == [1] and report.problems == [] and report.ok
    monkeypatch.setattr(Blocks, "read_content", real)
    with Archive.open("a.bmin") as archive:  # the add is whole, and verify sees it now
        assert archive.verify().checked == 6


def test_bytes_appended_to_the_file_are_found(tmp_path: Path) -> None:
    """SQLite never reads past the last page, so junk appended there passed every check."""
    (tmp_path / "a.md").write_bytes(b"a brief\n" * 20)
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:
        add(archive, iter_sources([str(tmp_path / "a.md")]))
        assert archive.verify().ok
    with path.open("ab") as file:
        file.write(b"\x00junk" * 200)
    with Archive.open(path) as archive:
        report = archive.verify()
    assert [(p.message.split(" byte(s)")[0], p.paths) for p in report.problems] == [
        ("1000", ())]
    assert "after the archive's last page" in report.problems[0].message


def test_whole_pages_past_the_last_are_sqlites_own_tail(tmp_path: Path) -> None:
    """A commit that shrinks the file (the incremental vacuum at the end of `add`) truncates
    it after its journal is deleted: a kill between the two leaves whole pages past the last
    one, committed and never read. verify called them appended junk, so a kill test failed
    once in a few hundred kills; they are no damage."""
    (tmp_path / "a.md").write_bytes(b"a brief\n" * 20)
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:
        add(archive, iter_sources([str(tmp_path / "a.md")]))
        (page_size,), = archive._db.query("PRAGMA page_size")
    with path.open("ab") as file:
        file.write(b"\x0d" * (5 * int(page_size)))
    with Archive.open(path) as archive:
        assert archive.verify().ok
