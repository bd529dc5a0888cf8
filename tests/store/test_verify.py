"""store/verify.py: verify names the damaged brief."""

from __future__ import annotations

from pathlib import Path

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
