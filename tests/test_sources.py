"""sources.py and text.py: admitting a source (empty, binary, any text bytes)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from briefmin import Archive, Source, add
from briefmin.sources import READ_BYTES, iter_sources
from briefmin.text import Admitted, Skipped, admit, is_binary

from .conftest import HASHING

MakeArchive = Callable[..., Path]


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def test_skips_binary_and_stores_empty(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"empty.md": b"", "logo.md": b"\x89PNG\r\n\x1a\n\x00\x00\x01",
                            "ok.md": b"fine\n"})
    with Archive.open(path) as archive:  # an empty file is the folder's state: stored
        assert [r.path for r in archive.records()] == ["src/empty.md", "src/ok.md"]


@given(data=st.binary(min_size=1, max_size=5000))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_text_bytes_round_trip(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "h.bmin"
    if path.exists():
        path.unlink()
    with open_new(path) as archive:
        report = add(archive, [Source("x.txt", None, data)])
        if is_binary(data):
            assert report.skipped and not report.added
            return
        (record,) = archive.records()
        assert archive.read(record) == data


@pytest.mark.parametrize("size", [0, 1, 840, READ_BYTES - 1, READ_BYTES, READ_BYTES + 1,
                                  3 * READ_BYTES + 7])
def test_reads_a_file_whole(tmp_path: Path, size: int) -> None:
    # sizes around the read call's size: one part, a full part and the empty read, several
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    (tmp_path / "f.md").write_bytes(data)
    assert Source("f.md", str(tmp_path / "f.md")).read() == data


def test_unreadable_sources_are_skipped_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()
    assert admit(Source("folder.md", str(tmp_path / "folder.md"))) == Skipped(
        "folder.md", "unreadable (Is a directory)")
    assert admit(Source("gone.md", str(tmp_path / "gone.md"))) == Skipped(
        "gone.md", "unreadable (No such file or directory)")
    (tmp_path / "ok.md").write_bytes(b"text\r\n")  # bytes as they are: no newline translation
    item = admit(Source("ok.md", str(tmp_path / "ok.md")))
    assert isinstance(item, Admitted) and item.data == b"text\r\n"


def test_a_file_not_to_be_read_is_skipped_when_read(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # tests run as root, whom no mode bit stops: the refusal is made by hand
    (tmp_path / "secret.md").write_bytes(b"text\n")
    source, = iter_sources([str(tmp_path / "secret.md")])

    def refuse(path: str, flags: int) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    assert admit(source) == Skipped(source.name, "unreadable (permission denied)")


def test_a_file_given_twice_is_one_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """`add A sub sub ./sub` said "added 1, unchanged 1" for one file. Another file of the
    same archive name (`sub/a.md` from elsewhere, or stdin's `--name`) was stored as a new
    version of the first, both at every run, and the snapshot held one: it is skipped, and
    says which file it clashes with."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("one brief\n")
    (tmp_path / "other" / "sub").mkdir(parents=True)
    (tmp_path / "other" / "sub" / "a.md").write_text("another brief\n")
    monkeypatch.chdir(tmp_path)
    found = list(iter_sources(["sub", "sub", "./sub", "sub/a.md"]))
    assert [(s.name, s.fs_path) for s in found if isinstance(s, Source)] == [
        ("sub/a.md", "sub/a.md")]
    monkeypatch.chdir(tmp_path / "other")
    both = list(iter_sources(["sub", "../sub"]))
    assert [(type(s), s.name) for s in both] == [(Source, "sub/a.md"), (Skipped, "sub/a.md")]
    assert isinstance(both[1], Skipped) and both[1].reason == (
        "../sub/a.md has the archive name of sub/a.md, given before it; give only one of "
        "them")
    piped = list(iter_sources(["sub", "-"], stdin_name="sub/a.md", stdin=io.BytesIO(b"x\n")))
    assert [type(s) for s in piped] == [Source, Skipped]
    assert isinstance(piped[1], Skipped) and piped[1].reason.startswith("stdin has the")
