"""ingest.py: the add report."""

from __future__ import annotations

from pathlib import Path

from briefmin import Archive, add, iter_sources

from .conftest import HASHING


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def test_add_report_lists_skips(tmp_path: Path) -> None:
    (tmp_path / "e.md").write_bytes(b"")
    (tmp_path / "b.md").write_bytes(b"\x00\x01\x02binary")
    with open_new(tmp_path / "a.bmin") as archive:
        report = add(archive, iter_sources([str(tmp_path / "e.md"), str(tmp_path / "b.md")]))
    assert {(s.name.rsplit("/", 1)[-1], s.reason) for s in report.skipped} == {
        ("e.md", "empty"), ("b.md", "binary, not text")}
