"""store/catalogue.py: contents stored once by sha256, versions, selectors, rm."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive, Source, add, iter_sources
from briefmin.errors import InputError

from ..conftest import HASHING

MakeArchive = Callable[..., Path]


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def archive_name(path: Path) -> str:
    from briefmin.sources import archive_name as name

    return name(str(path))


def test_identical_bytes_are_stored_once(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"one.md": b"same words here\n", "two.md": b"same words here\n"})
    with Archive.open(path) as archive:
        info = archive.info()
    assert info["briefs"] == 2 and info["unique_contents"] == 1


def test_changed_file_adds_a_version_and_old_stays_restorable(tmp_path: Path) -> None:
    brief = tmp_path / "brief.md"
    brief.write_bytes(b"version one of the plan\n")
    with open_new(tmp_path / "a.bmin") as archive:
        first = add(archive, iter_sources([str(brief)]))
        brief.write_bytes(b"version two of the plan, revised\n")
        second = add(archive, iter_sources([str(brief)]))
        third = add(archive, iter_sources([str(brief)]))
        assert len(first.added) == 1 and second.new_versions == [first.added[0]]
        assert third.unchanged == 1 and not third.added and not third.new_versions
        (latest,) = archive.records()
        (old,) = archive.records(version=1)
        assert (latest.version, latest.versions) == (2, 2)
        assert archive.read(old) == b"version one of the plan\n"
        assert archive.read(latest) == b"version two of the plan, revised\n"


def test_selectors_paths_folders_globs_and_sha_prefixes(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"x/a.md": b"alpha\n", "x/b.md": b"beta\n", "y/c.txt": b"gamma\n"})
    with Archive.open(path) as archive:
        names = lambda sel: [r.path for r in archive.records(sel)]  # noqa: E731
        assert names(["src/x"]) == ["src/x/a.md", "src/x/b.md"]
        assert names(["src/*/*.txt"]) == ["src/y/c.txt"]
        sha = archive.records(["src/x/b.md"])[0].sha256
        assert names([sha[:8]]) == ["src/x/b.md"]
        with pytest.raises(InputError, match="no brief matches 'nope'"):
            archive.records(["nope"])


def test_rm_removes_all_versions_and_reclaims_space(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(os.urandom(200_000).hex().encode())
    small = tmp_path / "small.txt"
    small.write_bytes(b"keep me\n")
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:
        add(archive, iter_sources([str(big), str(small)]))
        big.write_bytes(os.urandom(200_000).hex().encode())
        add(archive, iter_sources([str(big)]))
    before = path.stat().st_size
    with Archive.open(path, write=True) as archive:
        removed = archive.rm([archive_name(big)])
        assert [r.version for r in removed] == [1, 2]
        assert [r.path for r in archive.records()] == [archive_name(small)]
        assert archive.verify().ok
        assert archive.info()["vectors"] == 1
    assert path.stat().st_size < before / 4


def test_rm_one_version_keeps_the_others(tmp_path: Path) -> None:
    brief = tmp_path / "b.md"
    with open_new(tmp_path / "a.bmin") as archive:
        for text in (b"one\n", b"two\n", b"three\n"):
            brief.write_bytes(text)
            add(archive, iter_sources([str(brief)]))
        archive.rm([archive_name(brief)], version=2)
        assert [r.version for r in archive.records(all_versions=True)] == [1, 3]


def test_a_path_twice_in_one_batch_gets_two_versions(tmp_path: Path) -> None:
    """The batch's latest versions are looked up at once: a path met twice in one batch still
    gets version 2 for its second bytes, and unchanged bytes no version at all."""
    with open_new(tmp_path / "a.bmin") as archive:
        report = add(archive, [Source("a.md", None, b"first\n"), Source("b.md", None, b"b\n"),
                               Source("a.md", None, b"second\n")])
        assert (report.added, report.new_versions) == (["a.md", "b.md"], ["a.md"])
        add(archive, [Source("a.md", None, b"second\n"), Source("b.md", None, b"b, again\n")])
        found = {(r.path, r.version): archive.read(r)
                 for r in archive.records(all_versions=True)}
    assert found == {("a.md", 1): b"first\n", ("a.md", 2): b"second\n", ("b.md", 1): b"b\n",
                     ("b.md", 2): b"b, again\n"}


def test_a_reader_finds_the_same_holders_from_memory_and_sees_later_writes(
        tmp_path: Path) -> None:
    """records_of_contents scans the catalogue (format 8 has no index) and, from its
    HOLDERS_AFTER-th call on, a reader answers from every record read once: the same answer
    (versions, shared contents), and a write by another connection is seen at the next call."""
    from briefmin.store.archive import HOLDERS_AFTER

    path = tmp_path / "a.bmin"
    with open_new(path) as archive:
        add(archive, [Source("a.md", None, b"one\n"), Source("b.md", None, b"shared\n"),
                      Source("c.md", None, b"shared\n")])
        add(archive, [Source("a.md", None, b"two\n")])
    with Archive.open(path) as reader:
        ids = sorted({r.content_id for r in reader.records(all_versions=True)})
        first = [reader.records_of_contents(ids, all_versions=every)
                 for every in (False, True)]
        assert sorted(r.path for rs in first[0].values() for r in rs) == ["a.md", "b.md", "c.md"]
        assert len([r for rs in first[1].values() for r in rs]) == 4
        for _ in range(HOLDERS_AFTER):
            assert [reader.records_of_contents(ids, all_versions=every)
                    for every in (False, True)] == first
        assert reader._holders is not None  # answered from memory
        with Archive.open(path, write=True) as writer:
            add(writer, [Source("a.md", None, b"three\n")])
        later = reader.records_of_contents([*ids, max(ids) + 1])
        assert sorted((r.path, r.version) for rs in later.values() for r in rs) == [
            ("a.md", 3), ("b.md", 1), ("c.md", 1)]
