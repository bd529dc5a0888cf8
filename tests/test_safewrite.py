"""Restore's writer (briefmin/safewrite.py) in its two modes: files renamed into place, and,
into a folder that was empty, created in place with O_EXCL (as tar does). Neither ever
replaces or follows what was planted under a name, and a failed write leaves nothing."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive
from briefmin.errors import ArchiveError, InputError
from briefmin.safewrite import FolderWriter, check_names

MakeArchive = Callable[..., Path]


def test_exclusive_writes_refuse_a_name_planted_meanwhile(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    outside = tmp_path / "outside.md"
    outside.write_bytes(b"not yours\n")
    with FolderWriter(root, ArchiveError, exclusive=True) as writer:
        writer.write(["d", "a.md"], b"one\n")
        (root / "d" / "link.md").symlink_to(outside)  # planted after the restore began
        (root / "d" / "taken.md").write_bytes(b"theirs\n")
        for name in ("link.md", "taken.md"):
            with pytest.raises(InputError, match=r"already exists.*--force"):
                writer.write(["d", name], b"archived\n")
        (root / "d" / "dir.md").mkdir()
        with pytest.raises(ArchiveError, match="a folder is in the way"):
            writer.write(["d", "dir.md"], b"archived\n")
    assert (root / "d" / "a.md").read_bytes() == b"one\n"
    assert outside.read_bytes() == b"not yours\n"
    assert (root / "d" / "link.md").is_symlink()
    assert (root / "d" / "taken.md").read_bytes() == b"theirs\n"


@pytest.mark.parametrize("exclusive", [True, False])
def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       exclusive: bool) -> None:
    root = tmp_path / "out"
    root.mkdir()

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with FolderWriter(root, ArchiveError, exclusive=exclusive) as writer:
        monkeypatch.setattr(os, "write", full)
        with pytest.raises(OSError, match="No space"):
            writer.write(["a.md"], b"archived\n")
        monkeypatch.undo()
    assert os.listdir(root) == []


@pytest.mark.parametrize("exclusive", [True, False])
def test_an_interrupt_as_the_file_is_opened_leaves_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exclusive: bool) -> None:
    """Ctrl-C taken as os.open returns surfaces on that call, after the kernel made the file:
    a restore interrupted there left an empty temporary (or, in place, an empty) file."""
    root = tmp_path / "out"
    root.mkdir()
    real_open = os.open

    def open_then_interrupted(path: str, flags: int, mode: int = 0o777, *,
                              dir_fd: int | None = None) -> int:
        if flags & os.O_CREAT:
            real_open(path, flags, mode, dir_fd=dir_fd)  # made, then the signal lands
            raise KeyboardInterrupt
        return real_open(path, flags, mode, dir_fd=dir_fd)

    with FolderWriter(root, ArchiveError, exclusive=exclusive) as writer:
        monkeypatch.setattr(os, "open", open_then_interrupted)
        with pytest.raises(KeyboardInterrupt):
            writer.write(["sub", "a.md"], b"archived\n")
        monkeypatch.undo()
    assert os.listdir(root / "sub") == []


def test_a_symlinked_folder_in_the_target_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    with FolderWriter(tmp_path / "out", ArchiveError) as writer, \
            pytest.raises(ArchiveError, match="refusing to write through symlink"):
        writer.write(["sub", "a.md"], b"archived\n")
    assert os.listdir(tmp_path / "elsewhere") == []


def test_restore_into_an_empty_folder_creates_in_place(hashing_archive: MakeArchive,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """No temporary name and no rename per file into an empty folder; into a folder that
    holds something (with --force), the renaming writer as before. Byte-exact either way."""
    files = {f"d{i % 3}/b{i}.md": f"brief {i}\n".encode() for i in range(30)}
    path = hashing_archive(files)
    renames: list[str] = []
    real_replace = os.replace

    def counting(src: str, dst: str, **kwargs: int) -> None:
        renames.append(dst)
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", counting)
    with Archive.open(path) as archive:
        written = archive.restore(archive.records(), tmp_path / "out")
        assert renames == []
        (tmp_path / "again").mkdir()
        (tmp_path / "again" / "other").write_bytes(b"x")
        archive.restore(archive.records(), tmp_path / "again", force=True)
        assert len(renames) == len(files)
    assert written == [str(tmp_path / "out" / "src" / name) for name in sorted(files)]
    for target in ("out", "again"):
        for name, data in files.items():
            assert (tmp_path / target / "src" / name).read_bytes() == data


def test_names_near_the_file_systems_limit(hashing_archive: MakeArchive, tmp_path: Path
                                            ) -> None:
    """A name of 225-255 bytes restored into a folder that held something: its temporary
    name (the name and 31 more bytes) was too long to make, and the restore stopped there
    with "File name too long", the briefs after it unwritten. A name the target's file
    system cannot hold at all is refused, named, before anything is written."""
    long_name = "é" * 110 + "x" * 30 + ".md"  # 253 bytes in UTF-8
    files = {"a.md": b"first\n", long_name: b"long\n", "zz.md": b"last\n"}
    path = hashing_archive(files)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".keep").write_bytes(b"")
    with Archive.open(path) as archive:
        archive.restore(archive.records(), tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / "src" / name).read_bytes() == data
    too_long = ["src/a.md", "src/" + "y" * 300]
    with FolderWriter(tmp_path / "new", ArchiveError) as writer, \
            pytest.raises(InputError, match="300 bytes, more than its file system allows"):
        check_names(tmp_path, too_long, ArchiveError)
        writer.write(["never"], b"")
    assert not (tmp_path / "new").exists()


def test_a_killed_restore_writes_nothing_after_it_is_gone(tmp_path: Path) -> None:
    """A restore of many files writes half of them from a forked child: killing briefmin
    (`kill`, `timeout`) left that child filling the target for seconds after, so the next
    `rm -rf` or restore of it failed. The child now dies with its parent."""
    import signal
    import subprocess
    import sys
    import time

    from .conftest import HASHING, ROOT

    src = tmp_path / "src"
    src.mkdir()
    for k in range(4000):
        (src / f"{k}.md").write_text(f"Brief {k}: the rota of week {k % 52}.\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    briefmin = [sys.executable, "-m", "briefmin"]
    subprocess.run([*briefmin, "add", tmp_path / "a.bmin", src, "--model", HASHING, "-q"],
                   check=True, env=env)
    out = tmp_path / "out"
    restore = subprocess.Popen([*briefmin, "restore", tmp_path / "a.bmin", "--to", out],
                               env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.rglob("*.md"))) and time.monotonic() < deadline:
        time.sleep(0.01)
    restore.send_signal(signal.SIGKILL)
    restore.wait()
    time.sleep(0.2)  # the kernel's signal to the child
    written = len(list(out.rglob("*")))
    if written >= 4000:
        pytest.skip("the restore finished before it could be killed")
    time.sleep(1.5)
    assert len(list(out.rglob("*"))) == written
