"""Restore (store/archive.py over safewrite.py): byte-exact, never outside the target, never
through a symlink, never over a file without force."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive
from briefmin.errors import ArchiveError, InputError

from .. import surgery

MakeArchive = Callable[..., Path]


def test_add_then_restore_is_byte_exact(hashing_archive: MakeArchive, tmp_path: Path) -> None:
    files = {"a.md": b"# A\n\nfirst brief\n", "sub/b.txt": b"second\r\nbrief\r\n",
             "sub/deep/c.rst": "caf\u00e9 \u20ac".encode()}
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        records = archive.records()
        assert [r.path for r in records] == ["src/a.md", "src/sub/b.txt", "src/sub/deep/c.rst"]
        archive.restore(records, tmp_path / "out")
    for rel, data in files.items():
        assert (tmp_path / "out" / "src" / rel).read_bytes() == data


def test_hostile_names_never_escape_the_target(hashing_archive: MakeArchive,
                                               tmp_path: Path) -> None:
    path = hashing_archive({"a.md": b"payload\n"})
    target = tmp_path / "out"
    for evil in ("../x", "/etc/x", "a/../../x"):
        surgery.execute(path, "UPDATE briefs SET path = ?", (evil,))
        with Archive.open(path) as archive, pytest.raises(ArchiveError, match="escape"):
            archive.restore(archive.records(), target)
    assert not (tmp_path / "x").exists() and not list(target.rglob("x"))


def test_restore_refuses_symlinks_in_the_target(hashing_archive: MakeArchive,
                                                tmp_path: Path) -> None:
    path = hashing_archive({"dir/a.md": b"payload\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    (target / "src").mkdir(parents=True)
    (target / "src" / "dir").symlink_to(outside)
    with Archive.open(path) as archive, pytest.raises(ArchiveError, match="symlink"):
        archive.restore(archive.records(), target, force=True)
    assert list(outside.iterdir()) == []


def test_restore_does_not_overwrite_without_force(hashing_archive: MakeArchive,
                                                  tmp_path: Path) -> None:
    path = hashing_archive({"a.md": b"archived\n"})
    existing = tmp_path / "out" / "src" / "a.md"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"mine\n")
    with Archive.open(path) as archive:
        with pytest.raises(InputError, match="--force"):
            archive.restore(archive.records(), tmp_path / "out")
        assert existing.read_bytes() == b"mine\n"
        archive.restore(archive.records(), tmp_path / "out", force=True)
    assert existing.read_bytes() == b"archived\n"


def test_restore_replaces_a_planted_leaf_symlink_and_never_follows_it(
        hashing_archive: MakeArchive, tmp_path: Path) -> None:
    path = hashing_archive({"a.md": b"archived\n"})
    outside = tmp_path / "outside.md"
    outside.write_bytes(b"not yours\n")
    (tmp_path / "out" / "src").mkdir(parents=True)
    (tmp_path / "out" / "src" / "a.md").symlink_to(outside)
    with Archive.open(path) as archive:
        archive.restore(archive.records(), tmp_path / "out", force=True)
    restored = tmp_path / "out" / "src" / "a.md"
    assert not restored.is_symlink() and restored.read_bytes() == b"archived\n"
    assert outside.read_bytes() == b"not yours\n"


def test_restore_reports_files_and_folders_in_the_way(hashing_archive: MakeArchive,
                                                      tmp_path: Path) -> None:
    path = hashing_archive({"dir/a.md": b"one\n", "b.md": b"two\n"})
    (tmp_path / "out" / "src").mkdir(parents=True)
    (tmp_path / "out" / "src" / "dir").write_bytes(b"a file where a folder goes\n")
    with Archive.open(path) as archive, pytest.raises(ArchiveError, match="not a folder"):
        archive.restore(archive.records(["src/dir/a.md"]), tmp_path / "out", force=True)
    (tmp_path / "out" / "src" / "b.md").mkdir()
    with Archive.open(path) as archive, pytest.raises(ArchiveError, match="folder is in"):
        archive.restore(archive.records(["src/b.md"]), tmp_path / "out", force=True)


def test_restore_of_many_folders_keeps_few_descriptors_open(
        hashing_archive: MakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from briefmin.safewrite import FolderWriter

    files = {f"d{i:03d}/e{i % 7}/f.md": f"brief {i}\n".encode() for i in range(300)}
    path = hashing_archive(files)
    most_open = 0
    real_folder = FolderWriter._folder

    def counting(self: FolderWriter, parts: tuple[str, ...]) -> int:
        nonlocal most_open
        fd = real_folder(self, parts)
        most_open = max(most_open, len(self._open))
        return fd

    monkeypatch.setattr(FolderWriter, "_folder", counting)
    with Archive.open(path) as archive:
        before = len(os.listdir("/proc/self/fd"))
        archive.restore(archive.records(), tmp_path / "out")
        assert len(os.listdir("/proc/self/fd")) == before  # all closed again
    assert most_open <= 4  # root, src, dNNN, eN: only the current path
    for name, data in files.items():
        assert (tmp_path / "out" / "src" / name).read_bytes() == data


@pytest.fixture
def split_restore(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Small blocks and a low threshold, so that a restore of a few dozen briefs runs in two
    processes (as one of thousands does); the children forked are counted."""
    from briefmin import forked
    from briefmin.store import archive, blocks

    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)
    monkeypatch.setattr(archive, "SPLIT_FROM_CONTENTS", 4)
    # two cores, and no other thread but the idle compression worker the fixture's add left
    monkeypatch.setattr(forked, "can_fork", lambda: True)
    children: list[int] = []
    real_fork = os.fork

    def counting() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counting)
    return children


def _many_briefs() -> dict[str, bytes]:
    """60 briefs in 4 folders, 12 of them copies of others (one content, two names)."""
    return {f"d{i % 4}/b{i:02d}.md": f"brief {i % 48}\n{'x' * (i % 48)}\n".encode()
            for i in range(60)}


def test_restore_in_two_processes_is_byte_exact(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int]) -> None:
    files = _many_briefs()
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        before = len(os.listdir("/proc/self/fd"))
        written = archive.restore(archive.records(), tmp_path / "out")
        assert len(os.listdir("/proc/self/fd")) == before
    assert len(split_restore) == 1  # one child wrote half
    assert written == [str(tmp_path / "out" / "src" / name) for name in sorted(files)]
    restored = {p.relative_to(tmp_path / "out" / "src").as_posix(): p.read_bytes()
                for p in (tmp_path / "out").rglob("*.md")}
    assert restored == files


@pytest.mark.parametrize("where", ["first", "last"])
def test_a_damaged_brief_stops_a_restore_in_two_processes(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        where: str) -> None:
    """Damage in the parent's half or in the child's: the restore fails with the brief's
    error either way (the child's is brought back), and no file is left short."""
    from briefmin.errors import IntegrityError

    files = _many_briefs()
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        records = archive.records()
        in_order = sorted(records, key=lambda r: r.content_id)  # blocks fill in add order
    victim = (in_order[0] if where == "first" else in_order[-1]).path
    surgery.flip_stored_byte(path, victim)
    # the flipped byte damages the first brief of the victim's block that lies past it
    in_block = {p for (p,) in surgery.execute(
        path, "SELECT b.path FROM briefs b JOIN contents c ON c.id = b.content WHERE c.block = "
        "(SELECT c.block FROM contents c JOIN briefs b ON b.content = c.id WHERE b.path = ?)",
        (victim,))}
    with Archive.open(path) as archive, pytest.raises(IntegrityError) as failure:
        archive.restore(archive.records(), tmp_path / "out")
    named = re.fullmatch(r"cannot restore (\S+): .+; run `briefmin verify`", str(failure.value))
    assert named and named[1] in in_block, str(failure.value)
    assert len(split_restore) == 1
    restored = list((tmp_path / "out").rglob("*.md"))
    assert restored and len(restored) < len(files)
    for done in restored:
        assert done.read_bytes() == files[done.relative_to(tmp_path / "out" / "src").as_posix()]


def test_the_second_process_reports_a_name_planted_meanwhile(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's failure (here: a name that appeared after the restore began, refused
    without --force) reaches the caller as the same one-line error."""
    from briefmin.store import archive as archive_module

    files = _many_briefs()
    path = hashing_archive(files)
    target = tmp_path / "out"
    real_halves = archive_module._halves

    def planting(*args: object) -> object:
        split = real_halves(*args)  # type: ignore[arg-type]
        assert split is not None
        second = split[1]
        with Archive.open(path) as archive:
            name = next(r.path for r in archive.records() if r.content_id == second[-1][0])
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(b"theirs\n")
        return split

    monkeypatch.setattr(archive_module, "_halves", planting)
    with Archive.open(path) as archive, pytest.raises(InputError, match="already exists"):
        archive.restore(archive.records(), target)
    assert len(split_restore) == 1
    assert b"theirs\n" in [p.read_bytes() for p in target.rglob("*.md")]


def test_no_fork_beside_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child forked while another thread holds a lock could wait on it forever: a restore
    stays in one process then, as on one core."""
    import threading

    from briefmin import forked

    monkeypatch.setattr(forked, "cores", lambda: 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert forked.can_fork()
    monkeypatch.setattr(forked, "cores", lambda: 1)
    assert not forked.can_fork()
    monkeypatch.undo()
    monkeypatch.setattr(forked, "cores", lambda: 2)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not forked.can_fork()
    finally:
        stop.set()
        other.join()
