"""Writing files under a folder without ever leaving it: shared by `restore` (names from an
archive, which may be hostile) and `minify --to` (names from the command line).

A name is refused when it is absolute or has '..' parts. Every folder on the way is opened
relative to its parent's descriptor with O_NOFOLLOW (created when missing), so a symlink
anywhere below the target folder is refused, even one planted while we write; the file is
written to a temporary name (O_EXCL | O_NOFOLLOW) in its folder's descriptor and renamed into
place, which replaces a name and never follows it. Working from descriptors also spares the
path walks and stat calls per file that dominated restoring many small briefs."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType

from .errors import BriefminError, InputError

# bytes of a name kept in its temporary name: with `.`, `.briefmin-`, a pid and a clock
# reading, well under 255
_STEM_BYTES = 160
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def safe_target(root: Path, name: str, error: type[BriefminError]) -> Path:
    """Where `name` (a '/'-separated relative path) goes under `root`."""
    return root.joinpath(*safe_parts(root, name, error))


def safe_parts(root: Path, name: str, error: type[BriefminError]) -> list[str]:
    """The parts of `name` (a '/'-separated relative path), refused when it could leave
    `root`. String tests only: restoring 20,000 briefs spent 0.4 s building Paths."""
    parts = name.split("/")
    if (not name or name[0] == "/" or "\x00" in name
            or "" in parts or "." in parts or ".." in parts):
        raise error(f"refusing to write {name!r}: the name would escape the target folder "
                    f"{root}")
    return parts


def check_names(root: Path, names: Sequence[str], error: type[BriefminError]) -> None:
    """Refuse, as safe_parts does, any of these names that could leave `root`, by a few
    substring searches over them all instead of a list of parts each (split later, where
    each is written: in two processes at once, for a restore). Joined by NUL with every '/'
    made a NUL too, an empty name or part (a leading, trailing or double '/') shows as two
    NULs in a row, a '.' or '..' part between two NULs; a NUL inside a name makes one NUL
    too many. What this flags is checked again by safe_parts, which says why."""
    joined = "\x00".join(names)
    parts = f"\x00{joined.replace('/', chr(0))}\x00"
    if (joined.count("\x00") != max(len(names) - 1, 0) or "\x00\x00" in parts
            or "\x00.\x00" in parts or "\x00..\x00" in parts):
        for name in names:
            safe_parts(root, name, error)
    # a UTF-8 character is at most 4 bytes: parts of at most 63 need no encoding to pass
    if names and len(max(parts.split("\x00"), key=len)) > _SURELY_SHORT:
        _check_lengths(root, names)


_SURELY_SHORT = 63


def _check_lengths(root: Path, names: Sequence[str]) -> None:
    """Refuse a name with a part longer than `root`'s file system allows (255 bytes on
    most), before anything is written: writing it failed part way with "File name too
    long" and no name."""
    try:
        limit = os.pathconf(root, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for name in names:
        for part in name.split("/"):
            if len(part) > _SURELY_SHORT and len(os.fsencode(part)) > limit:
                shown = name if len(name) <= 80 else f"{name[:60]}…"
                raise InputError(
                    f"cannot write {shown!r} under {root}: a part of its name is "
                    f"{len(os.fsencode(part))} bytes, more than its file system allows "
                    f"({limit}); write that one to stdout (`restore … --stdout`)")


class FolderWriter:
    """Writes files under `root` (which must exist) through folder descriptors. Keeps open
    only the folders on the path of the last write, so sorted names reuse them and any number
    of folders fits in the descriptor limit.

    `exclusive` (a restore into a folder that was empty, no name twice): each file is created
    under its own name with O_EXCL | O_NOFOLLOW and no rename, as `tar x` does. That never
    replaces or follows anything (a name that appeared meanwhile is refused); what it gives
    up is atomicity, so a restore killed mid-file may leave that one file short (a failed
    write removes it). It saves a rename and a name per file: a third of the syscalls."""

    def __init__(self, root: Path, error: type[BriefminError], *,
                 exclusive: bool = False) -> None:
        self.root = root
        self.error = error
        self.exclusive = exclusive
        self._open: dict[tuple[str, ...], int] = {}
        self._last: tuple[tuple[str, ...], int] | None = None  # the last folder written in

    def __enter__(self) -> FolderWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        self._last = None

    def write(self, parts: Sequence[str], data: bytes | memoryview) -> None:
        """Write `data` at the relative path `parts` (checked by safe_parts): atomically,
        unless `exclusive`."""
        folders, leaf = tuple(parts[:-1]), parts[-1]
        last = self._last
        folder = last[1] if last is not None and last[0] == folders else self._folder(folders)
        if self.exclusive:
            self._create(folder, parts, leaf, data)
            return
        # the leaf's start names the temporary file, cut so that it fits NAME_MAX (a long
        # name's temporary one was too long to make, and the write failed)
        stem = leaf if len(leaf) <= _STEM_BYTES // 4 else \
            os.fsdecode(os.fsencode(leaf)[:_STEM_BYTES])
        tmp = f".{stem}.briefmin-{os.getpid()}-{time.monotonic_ns()}"
        try:
            # inside the try: a Ctrl-C taken as os.open returns surfaces on this line, after
            # the kernel made the file (a name of ours alone, so removing it is always safe)
            fd = os.open(tmp, _FILE_FLAGS, 0o666, dir_fd=folder)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            # no stat first (restoring many small briefs is syscalls): replacing a folder
            # fails, and that failure is the message
            os.replace(tmp, leaf, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as exc:
            with suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                raise self._in_the_way(parts) from None
            raise
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise

    def _create(self, folder: int, parts: Sequence[str], leaf: str,
                data: bytes | memoryview) -> None:
        try:
            fd = os.open(leaf, _FILE_FLAGS, 0o666, dir_fd=folder)
        except FileExistsError:
            where = self.root.joinpath(*parts)
            if os.path.isdir(where) and not os.path.islink(where):
                raise self._in_the_way(parts) from None
            raise InputError(f"{where} already exists (made while restoring); use --force "
                             "to overwrite") from None
        except OSError:
            raise
        except BaseException:
            # a Ctrl-C taken as os.open returns surfaces here, after the kernel made the
            # file, which O_EXCL makes ours: no empty file stays behind. (Interrupted inside
            # the call, open made nothing; the unlink then removes a file only if another
            # process made that very name at that instant, in a folder that was empty when
            # the restore began: a race accepted, against an empty file left behind)
            with suppress(OSError):
                os.unlink(leaf, dir_fd=folder)
            raise
        try:
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
        except BaseException:
            with suppress(OSError):  # ours (O_EXCL made it): no short file stays behind
                os.unlink(leaf, dir_fd=folder)
            raise

    def _in_the_way(self, parts: Sequence[str]) -> BriefminError:
        return self.error(f"cannot write {self.root.joinpath(*parts)}: a folder is in the way")

    def _folder(self, parts: tuple[str, ...]) -> int:
        """The descriptor of root/parts, opened (and created) one part at a time, from the
        deepest folder of them already open (a loop: a name 1,000 folders deep is fine)."""
        fd = self._open.get(parts)
        if fd is None:
            depth = len(parts)
            while depth and parts[:depth] not in self._open:
                depth -= 1
            fd = self._open.get(parts[:depth])
            if fd is None:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                self._open[()] = fd
            for end in range(depth + 1, len(parts) + 1):
                fd = self._open_child(fd, parts[:end])
                self._open[parts[:end]] = fd
        for other in [p for p in self._open if p != parts[:len(p)]]:
            os.close(self._open.pop(other))  # off the current path: sorted names are done
        self._last = (parts, fd)
        return fd

    def _open_child(self, parent: int, parts: tuple[str, ...]) -> int:
        name, where = parts[-1], self.root.joinpath(*parts)
        for attempt in range(2):
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if attempt:
                    raise
                with suppress(FileExistsError):  # made meanwhile by someone else: open it
                    os.mkdir(name, dir_fd=parent)
            except OSError as exc:
                # Linux reports a symlink opened with O_DIRECTORY | O_NOFOLLOW as ENOTDIR
                if exc.errno == errno.ELOOP or os.path.islink(where):
                    raise self.error(f"refusing to write through symlink {where}") from None
                if exc.errno == errno.ENOTDIR:
                    raise self.error(f"cannot write into {where}: it is a file, not a "
                                     "folder") from None
                raise
        raise AssertionError("unreachable")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """One write syscall for a brief (a loop in case the kernel takes less)."""
    written = os.write(fd, data)
    if written == len(data):
        return
    view = memoryview(data)[written:]
    while view:
        view = view[os.write(fd, view):]


def refuse_existing(targets: Sequence[Path]) -> None:
    """Refuse to overwrite files that exist (the commands' --force lifts this)."""
    taken = [str(target) for target in targets if os.path.lexists(target)]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise InputError(f"{taken[0]} already exists{more}; use --force to overwrite")


def write_inside(root: Path, name: str, data: bytes, error: type[BriefminError], *,
                 force: bool = False) -> Path:
    """Write one file at relative `name` under `root` (created when missing): never outside
    it, never through a symlink, never over a file without `force`; atomically."""
    target = safe_target(root, name, error)
    root.mkdir(parents=True, exist_ok=True)
    if not force:
        refuse_existing([target])
    with FolderWriter(root, error) as writer:
        writer.write(target.relative_to(root).parts, data)
    return target
