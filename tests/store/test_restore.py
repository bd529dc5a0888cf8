"""Restore (store/archive.py over safewrite.py): byte-exact, never outside the target, never
through a symlink, never over a file without force."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin import Archive
from briefmin.errors import ArchiveError, InputError
from briefmin.store import selects

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
    (brief_id,), = surgery.execute(path, "SELECT id FROM briefs")
    for evil in ("../x", "/etc/x", "a/../../x"):
        surgery.rename_brief(path, brief_id, evil)
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


@pytest.mark.parametrize("lean", [False, True])
def test_restore_in_two_processes_is_byte_exact(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        lean: bool) -> None:
    files = _many_briefs()
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        before = len(os.listdir("/proc/self/fd"))
        if lean:
            assert archive.restore_selected(tmp_path / "out") == len(files)
        else:
            written = archive.restore(archive.records(), tmp_path / "out")
            assert written == [str(tmp_path / "out" / "src" / name) for name in sorted(files)]
        assert len(os.listdir("/proc/self/fd")) == before
    assert len(split_restore) == 1  # one child wrote half
    restored = {p.relative_to(tmp_path / "out" / "src").as_posix(): p.read_bytes()
                for p in (tmp_path / "out").rglob("*.md")}
    assert restored == files


@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_damaged_brief_stops_a_restore_in_two_processes(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        where: str, lean: bool) -> None:
    """Damage in the parent's half or in the child's: the restore fails with the brief's
    error either way (the child's is brought back), no file is left short, and every brief
    outside the damaged block is written (the restore no longer stops at the damage)."""
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
        if lean:
            archive.restore_selected(tmp_path / "out")
        else:
            archive.restore(archive.records(), tmp_path / "out")
    named = re.fullmatch(r"cannot restore (\S+)( \(and \d+ other brief\(s\)\))?: .+; run "
                         r"`briefmin verify`", str(failure.value))
    assert named and named[1] in in_block, str(failure.value)
    assert len(split_restore) == 1
    restored = list((tmp_path / "out").rglob("*.md"))
    assert len(restored) < len(files)
    written = {f"src/{p.relative_to(tmp_path / 'out' / 'src').as_posix()}" for p in restored}
    assert written >= {f"src/{name}" for name in files} - in_block
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
    real_split = archive_module._split

    def planting(rows: list[Any]) -> object:
        split = real_split(rows)
        assert split is not None
        _, end = split  # the child's last row
        with Archive.open(path) as archive:
            name = next(r.path for r in archive.records() if r.content_id == rows[end - 1][0])
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(b"theirs\n")
        return split

    monkeypatch.setattr(archive_module, "_split", planting)
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


def _versioned(hashing_archive: MakeArchive, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """_many_briefs, then a second version of a few of them (and a new brief) added."""
    from briefmin import add, iter_sources

    files = _many_briefs()
    path = hashing_archive(files)
    changed = {"d1/b01.md": b"second version\n", "d2/b10.md": b"brief 3\nxxx\n",
               "d3/new.md": b"brief 3\nxxx\n"}
    for rel, data in changed.items():
        (tmp_path / "src" / rel).write_bytes(data)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with Archive.open(path, write=True) as archive:
            add(archive, iter_sources(["src"], include=["*"]))
    finally:
        os.chdir(cwd)
    return path, {**files, **changed}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file()}


@pytest.mark.parametrize(("selectors", "version"), [
    ((), None), (("src/d1", "*/b0?.md"), None), ((), 1), (("src/d2/b10.md",), 2),
    (("src/d3/",), None)])
def test_restore_selected_writes_what_restoring_the_records_writes(
        hashing_archive: MakeArchive, tmp_path: Path, selectors: tuple[str, ...],
        version: int | None) -> None:
    """The lean read (catalogue.placed) chooses, through the same selector grammar, the very
    briefs `records` does, at the same versions."""
    path, files = _versioned(hashing_archive, tmp_path)
    with Archive.open(path) as archive:
        records = archive.records(list(selectors), version=version)
        archive.restore(records, tmp_path / "by-records")
        count = archive.restore_selected(tmp_path / "lean", list(selectors), version=version)
    assert count == len(records) > 0
    assert _tree(tmp_path / "lean") == _tree(tmp_path / "by-records")
    if version is None:  # the latest versions: what was added last
        assert _tree(tmp_path / "lean") == {
            f"src/{rel}": data for rel, data in files.items()
            if any(selects(s, f"src/{rel}", "") for s in selectors) or not selectors}


def _fails_as_records_fails(path: Path, target: Path) -> None:
    """restore_selected into `target` raises the very error `records` raises (which names
    the damaged brief)."""
    from briefmin.errors import IntegrityError

    with Archive.open(path) as archive:
        with pytest.raises(IntegrityError) as by_records:
            archive.records()
        with pytest.raises(IntegrityError) as lean:
            archive.restore_selected(target)
    assert str(lean.value) == str(by_records.value)


def test_restore_selected_refuses_what_records_refuses(hashing_archive: MakeArchive,
                                                       tmp_path: Path) -> None:
    path = hashing_archive(_many_briefs())
    with Archive.open(path) as archive, pytest.raises(InputError, match="no brief matches"):
        archive.restore_selected(tmp_path / "out", ["src/ghost"])
    # a damaged catalogue row: the error that names it, as `records` says it
    surgery.execute(path, "UPDATE briefs SET version = 'x' WHERE path = 'src/d0/b04.md'")
    _fails_as_records_fails(path, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.md"))


def test_in_order_keeps_the_records_order_in_bounded_windows(
        hashing_archive: MakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`restore --stdout` reads windows of briefs in block order, yet gives them in the
    records' order (path, then version), each byte-exact; copies included."""
    from briefmin.store import archive as archive_module
    from briefmin.store.blocks import Blocks

    path, files = _versioned(hashing_archive, tmp_path)
    monkeypatch.setattr(archive_module, "ORDER_WINDOW_BYTES", 40)
    windows: list[int] = []
    real = Blocks.read_many

    def counting(self: Blocks, ids: object) -> object:
        ids = set(ids)  # type: ignore[call-overload]
        windows.append(len(ids))
        return real(self, ids)

    monkeypatch.setattr(Blocks, "read_many", counting)
    with Archive.open(path) as archive:
        records = archive.records(all_versions=True)
        got = list(archive.in_order(records))
        expected = [archive.read(r) for r in records]
    assert [r for r, _ in got] == records
    assert [data for _, data in got] == expected
    assert {r.path: data for r, data in got if r.version == r.versions} == {
        f"src/{rel}": data for rel, data in files.items()}
    assert len(windows) > 5 and max(windows) <= 4  # 40 bytes: a few briefs of ~10-60 each


def test_in_order_names_a_damaged_brief(hashing_archive: MakeArchive, tmp_path: Path) -> None:
    from briefmin.errors import IntegrityError

    path = hashing_archive({"a.md": b"first brief\n" * 20, "b.md": b"second brief\n" * 20})
    surgery.flip_stored_byte(path, "src/b.md")
    with Archive.open(path) as archive, pytest.raises(IntegrityError) as failure:
        list(archive.in_order(archive.records()))
    assert re.fullmatch(r"cannot restore src/[ab]\.md: .+; run `briefmin verify`",
                        str(failure.value)), str(failure.value)


@settings(max_examples=500, deadline=None)
@given(names=st.lists(st.text(alphabet="ab./\x00", max_size=6), max_size=6))
def test_checking_names_together_refuses_what_safe_parts_refuses(names: list[str]) -> None:
    """A restore checks every name with one pattern over them all (safewrite.check_names):
    it must refuse exactly when safe_parts refuses one of them."""
    from briefmin.safewrite import check_names, safe_parts

    def refused(check: Callable[[], object]) -> bool:
        try:
            check()
        except ArchiveError:
            return True
        return False

    root = Path("/nowhere")
    expected = any(refused(lambda n=n: safe_parts(root, n, ArchiveError)) for n in names)
    assert refused(lambda: check_names(root, names, ArchiveError)) == expected


def _ends_in_block_order(path: Path) -> tuple[int, int]:
    """The briefs.id of the first and of the last brief in block order: in the lower and in
    the upper half of a restore in two processes."""
    order = surgery.execute(path, "SELECT b.id FROM briefs b JOIN contents c ON c.id = "
                                  "b.content ORDER BY c.block, c.block_offset, b.id")
    return order[0][0], order[-1][0]


def _halves_read(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The halves this process read with catalogue.placed (True: the upper one)."""
    from briefmin.store import catalogue

    read: list[bool] = []
    real = catalogue.placed

    def spying(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("half") is not None:
            read.append(kwargs["half"][1])
        return real(*args, **kwargs)

    monkeypatch.setattr(catalogue, "placed", spying)
    return read


@pytest.mark.parametrize("where", ["lower", "upper"])
def test_a_bad_name_in_either_half_writes_nothing(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Each process checks the names of its own half, and neither writes before both passed:
    a name that would leave the target, in the child's half or in this process's, writes no
    file anywhere and is reported as a restore in one process reports it."""
    path = hashing_archive(_many_briefs())
    first, last = _ends_in_block_order(path)
    surgery.rename_brief(path, first if where == "lower" else last, "../evil.md")
    halves = _halves_read(monkeypatch)
    target = tmp_path / "out"
    with Archive.open(path) as archive, pytest.raises(ArchiveError) as failure:
        archive.restore_selected(target)
    assert "'../evil.md'" in str(failure.value) and "escape" in str(failure.value)
    assert len(split_restore) == 1 and halves == [False]  # the child read the upper half
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".md"
            and "src" not in p.relative_to(tmp_path).parts[:1]] == []
    assert not (tmp_path / "evil.md").exists() and list(target.iterdir()) == []


@pytest.mark.parametrize("where", ["lower", "upper"])
def test_a_damaged_row_in_either_half_is_named_and_nothing_written(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        where: str) -> None:
    """A half that holds a damaged catalogue row writes nothing, nor does the other: the
    restore then reads the whole catalogue, whose error names the brief."""
    path = hashing_archive(_many_briefs())
    first, last = _ends_in_block_order(path)
    surgery.execute(path, "UPDATE contents SET sha256 = x'00' WHERE id = "
                          "(SELECT content FROM briefs WHERE id = ?)",
                    (first if where == "lower" else last,))
    _fails_as_records_fails(path, tmp_path / "out")
    assert len(split_restore) == 1
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("which", ["latest", "version 1", "version 2", "snapshot"])
def test_restore_in_halves_chooses_the_versions_records_chooses(
        hashing_archive: MakeArchive, tmp_path: Path, split_restore: list[int],
        monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    """Each half picks the latest versions, or one version, or a snapshot's, as `records`
    does from the whole catalogue (the second versions lie in the upper blocks, the first in
    the lower ones)."""
    from datetime import UTC, datetime

    path, _ = _versioned(hashing_archive, tmp_path)
    if which == "snapshot":  # every other path
        with Archive.open(path, write=True) as archive:
            archive.record_snapshot(sorted(r.path for r in archive.records())[::2],
                                    time=datetime.now(UTC), host="h", roots=["src"], tags=[])
    halves = _halves_read(monkeypatch)
    with Archive.open(path) as archive:
        version = int(which[-1]) if which.startswith("version") else None
        snapshot = archive.snapshots()[0] if which == "snapshot" else None
        records = archive.records(version=version, snapshot=snapshot)
        archive.restore(records, tmp_path / "by-records")
        count = archive.restore_selected(tmp_path / "halves", version=version,
                                         snapshot=snapshot)
    assert count == len(records) > 0
    assert _tree(tmp_path / "halves") == _tree(tmp_path / "by-records")
    assert halves == [False] and split_restore  # (records' restore may fork too)


def test_no_halves_in_wal_mode(hashing_archive: MakeArchive, tmp_path: Path,
                               split_restore: list[int],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """In WAL mode a reader does not hold writers back, so a child's connection could read a
    later state than its parent's: the catalogue is then read once, before the fork."""
    files = _many_briefs()
    path = hashing_archive(files)
    with Archive.open(path, write=True) as archive:
        archive.set_journal_mode("wal")
    halves = _halves_read(monkeypatch)
    with Archive.open(path) as archive:
        assert archive.restore_selected(tmp_path / "out") == len(files)
    assert halves == [] and len(split_restore) == 1
    assert _tree(tmp_path / "out" / "src") == files


def test_the_child_checks_before_the_parent_lets_it_write(tmp_path: Path) -> None:
    """forked.beside: go() returns the child's count, or raises what its checks raised; a
    parent that fails before go() stops the child before its work."""
    from briefmin import forked

    def prepare(fail: bool) -> tuple[Callable[[], None], int]:
        if fail:
            raise InputError("the child's names are bad")
        return (lambda: (tmp_path / "child-wrote").write_text("x")), 7

    with forked.beside(lambda: prepare(False), ArchiveError) as go:
        assert go() == 7
    assert (tmp_path / "child-wrote").exists()
    (tmp_path / "child-wrote").unlink()
    with pytest.raises(InputError, match="child's names"), \
            forked.beside(lambda: prepare(True), ArchiveError) as go:
        go()
    with pytest.raises(ValueError, match="parent's"), \
            forked.beside(lambda: prepare(False), ArchiveError) as go:
        raise ValueError("the parent's names are bad")
    assert not (tmp_path / "child-wrote").exists()


@pytest.mark.parametrize("fmt", [3, 4, 7])
def test_older_formats_restore_in_halves(hashing_archive: MakeArchive, tmp_path: Path,
                                         split_restore: list[int],
                                         monkeypatch: pytest.MonkeyPatch, fmt: int) -> None:
    """An archive of an older format, read as it is (its catalogue through the views a
    connection makes, the child's own connection included), restores in halves too."""
    files = _many_briefs()
    path = hashing_archive(files)
    {3: surgery.write_format_3, 4: surgery.write_format_4, 7: surgery.write_format_7}[fmt](path)
    halves = _halves_read(monkeypatch)
    with Archive.open(path) as archive:
        assert archive.restore_selected(tmp_path / "out") == len(files)
    assert halves == [False] and len(split_restore) == 1
    assert _tree(tmp_path / "out" / "src") == files


def test_no_halves_on_one_core(hashing_archive: MakeArchive, tmp_path: Path,
                               split_restore: list[int],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Where forking is not allowed (one core, another thread: forked.can_fork), a restore of
    everything stays in one process and reads the catalogue once."""
    from briefmin import forked

    files = _many_briefs()
    path = hashing_archive(files)
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    halves = _halves_read(monkeypatch)
    with Archive.open(path) as archive:
        assert archive.restore_selected(tmp_path / "out") == len(files)
    assert halves == [] and split_restore == []
    assert _tree(tmp_path / "out" / "src") == files


def test_a_restore_reads_one_state_while_an_rm_commits(hashing_archive: MakeArchive,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue is read, then the solid blocks its rows point at; an rm that committed
    in between (re-packing the block the others share) left the restore reading a block
    that was gone, on a sound archive. The restore now reads one state (WAL here: the rm
    commits at once; in the default journal it waits for the restore)."""
    files = {f"b{i}.md": f"brief number {i} of five\n".encode() for i in range(5)}
    path = hashing_archive(files)
    with Archive.open(path, write=True) as writer:
        writer.set_journal_mode("wal")
    real, removed = Archive._restore, []

    def restore_after_an_rm(self: Archive, *args: Any, **kwargs: Any) -> None:
        if not removed:
            with Archive.open(path, write=True) as other:
                removed.extend(r.path for r in other.rm(["src/b0.md"]))
        real(self, *args, **kwargs)

    monkeypatch.setattr(Archive, "_restore", restore_after_an_rm)
    with Archive.open(path) as archive:
        assert archive.restore_selected(tmp_path / "out") == 5
    assert removed == ["src/b0.md"]
    assert {p.name: p.read_bytes() for p in (tmp_path / "out" / "src").iterdir()} == files
