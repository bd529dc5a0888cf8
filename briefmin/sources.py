"""Finding briefs to read: folders, globs, path lists and stdin (text.py admits each one).

Nothing here touches an archive: it yields `Source`s (ready to store) and `Skipped` records
(with the reason), so every command that takes paths walks them the same way."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, UsageError
from .text import Skipped, decode_text

DEFAULT_INCLUDE = ("*.md", "*.markdown", "*.txt", "*.rst")
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # a "brief" above this is almost surely not one
READ_BYTES = 1024 * 1024  # per read call: most briefs are read in one, and an empty read ends


@dataclass(frozen=True)
class Source:
    """One brief to store: the name it gets in the archive and how to read its bytes."""

    name: str
    fs_path: str | None  # None for stdin
    data: bytes | None = None  # already read (stdin)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.fs_path is not None
        # os.read to the end, without open()'s file objects: 10,000 briefs of ~840 B read
        # in 44 ms of CPU instead of 74 (like open(): close-on-exec, binary, EINTR retried)
        fd = os.open(self.fs_path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0))
        try:
            parts = []
            while part := os.read(fd, READ_BYTES):
                parts.append(part)
        finally:
            os.close(fd)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def archive_name(path: str) -> str:
    """The name a file gets in the archive: like tar, the path as given, normalized, relative,
    with '/' separators and no leading '/' or '..'. A '..' inside the path cancels the part
    before it (`odd/../odd/a.md` is `odd/a.md`): kept, it would name a file that `restore`
    refuses to write, outside the folder it restores into."""
    parts: list[str] = []
    for part in path.replace(os.sep, "/").split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Does the file name or the relative path match any of the globs?"""
    if not patterns:
        return False
    glob = _compiled(patterns)
    return bool(glob.match(name.rsplit("/", 1)[-1]) or glob.match(name))


@functools.lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    # one regex for all globs, built once: fnmatch per file and pattern was a second of a
    # 64k-file re-add
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def is_utf8(text: str) -> bool:
    """Whether `text` (a path or argument) came as UTF-8 bytes: Python hands other bytes over
    as lone surrogates, which no encoder, index or name cell takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _checked_name(path: str) -> str | Skipped:
    if not is_utf8(path):
        return Skipped(os.fsencode(path).decode("utf-8", "backslashreplace"),
                       "file name is not valid UTF-8; rename it", path)
    return archive_name(path)


def iter_sources(paths: Iterable[str], *, include: Iterable[str] = DEFAULT_INCLUDE,
                 exclude: Iterable[str] = (), stdin_name: str = "stdin.txt",
                 stdin: BinaryIO | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES,
                 on_left_out: Callable[[str], None] | None = None
                 ) -> Iterator[Source | Skipped]:
    """Expand `paths` (files, folders walked recursively, '-' for stdin) into sources.

    Folder members must match `include` and not `exclude`; a file named explicitly is taken
    whatever its extension. Symlinked folders are not followed (no loops); special files
    (FIFOs, devices, sockets) and files over `max_bytes` are skipped with a reason. A
    `stdin_name` with nothing left once made relative ('..', '/') is a UsageError.
    `on_left_out` is called with the path of each folder member that matches no `include`
    glob (not those `exclude` leaves out), so a command can say how many it passed by."""
    include, exclude = tuple(include), tuple(exclude)
    paths = list(paths)
    found = _sources(paths, include, exclude, stdin_name, stdin, max_bytes, on_left_out)
    if len(paths) < 2:  # the walk of one path never repeats a name: no map of every path
        yield from found
        return
    # a file reached twice (`add A docs ./docs`) is one brief: it was counted added and then
    # unchanged. Only a repeated name is compared, by the file it is. Two files of one
    # archive name (`tmp/a.md` and `/tmp/a.md`, a path and stdin's --name) were both stored,
    # the second as a new version of the first, every run: the first given is taken
    seen: dict[str, str] = {}
    for item in found:
        if isinstance(item, Source):
            origin = item.fs_path if item.fs_path is not None else "-"
            first = seen.setdefault(item.name, origin)
            if first is not origin:
                if origin != "-" and first != "-" and _same_file(first, origin):
                    continue
                yield Skipped(item.name, f"{_shown(origin)} has the archive name of "
                              f"{_shown(first)}, given before it; give only one of them",
                              item.fs_path)
                continue
        yield item


def _shown(origin: str) -> str:
    return "stdin" if origin == "-" else origin


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _sources(paths: Iterable[str], include: tuple[str, ...], exclude: tuple[str, ...],
             stdin_name: str, stdin: BinaryIO | None, max_bytes: int,
             on_left_out: Callable[[str], None] | None = None
             ) -> Iterator[Source | Skipped]:
    for option, patterns in (("--include", include), ("--exclude", exclude)):
        # an empty glob matches no file: a snapshot of the folder would record every brief
        # in it as deleted
        for pattern in patterns:
            if not pattern.strip():
                raise UsageError(f"{option} {pattern!r}: an empty glob matches nothing; give "
                                 "a pattern like '*.md'")
    for path in paths:
        if path == "-":
            if not archive_name(stdin_name):  # `add` would record a snapshot without it
                raise UsageError(f"--name {stdin_name!r} is not a usable archive name; give "
                                 "a relative path like notes/idea.md")
            if stdin is None and sys.stdin is None:
                raise InputError("stdin is closed; pipe a brief in or give a path instead of -")
            stream = stdin or sys.stdin.buffer
            try:
                data = stream.read()
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read stdin: {exc}") from exc
            yield Source(archive_name(stdin_name), None, data)
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file or directory") from None
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(path, include, exclude, max_bytes, on_left_out)
        else:
            yield _file_source(path, st, max_bytes)


def _walk(root: str, include: tuple[str, ...], exclude: tuple[str, ...],
          max_bytes: int, on_left_out: Callable[[str], None] | None = None
          ) -> Iterator[Source | Skipped]:
    def on_error(exc: OSError) -> None:
        raise InputError(f"{exc.filename}: cannot list folder ({exc.strerror})")

    try:
        yield from _walk_folders(root, include, exclude, max_bytes, on_left_out, on_error)
    except RecursionError:  # os.walk recurses once per level (Python < 3.12)
        raise InputError(f"{root}: folders nested too deep to walk (about 1,000 levels); "
                         "add a deeper folder by its own path") from None


def _walk_folders(root: str, include: tuple[str, ...], exclude: tuple[str, ...],
                  max_bytes: int, on_left_out: Callable[[str], None] | None,
                  on_error: Callable[[OSError], None]) -> Iterator[Source | Skipped]:
    for folder, dirs, files in os.walk(root, onerror=on_error):
        dirs.sort()
        dirs[:] = [d for d in dirs if not _matches(d, exclude)]
        # relpath per folder, not per file: it resolves both paths, a cost at 64k files
        rel_folder = os.path.relpath(folder, root)
        for file in sorted(files):
            path = os.path.join(folder, file)
            rel = file if rel_folder == "." else os.path.join(rel_folder, file)
            if not _matches(rel, include) or _matches(rel, exclude):
                if on_left_out is not None and not _matches(rel, exclude):
                    on_left_out(path)
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                yield Skipped(archive_name(path), f"unreadable ({exc.strerror})", path)
                continue
            yield _file_source(path, st, max_bytes)


def _file_source(path: str, st: os.stat_result, max_bytes: int) -> Source | Skipped:
    name = _checked_name(path)
    if isinstance(name, Skipped):
        return name
    if not stat.S_ISREG(st.st_mode):
        return Skipped(name, "not a regular file", path)
    if st.st_size > max_bytes:
        return Skipped(name, f"too large ({st.st_size} bytes > --max-size {max_bytes})",
                       path)
    # a file we may not read is skipped when read (text.admit): an access() call per file
    # was a fifth of the walk
    return Source(name, path)


def read_path_list(list_path: str, stdin: BinaryIO | None = None) -> list[str]:
    """A newline-separated path list (`-` = stdin); blank lines are ignored, and so is a CR
    ending a line (a list saved with CRLF line ends names the same files). A list holding a
    NUL byte is NUL-separated (`find -print0`, `git ls-files -z`): no path holds one, and
    then a name may hold a newline."""
    raw = _read_list(list_path, "--from", "a path list", stdin)
    if b"\0" in raw:
        return [os.fsdecode(name) for name in raw.split(b"\0") if name]
    return [os.fsdecode(line.removesuffix(b"\r")) for line in raw.split(b"\n") if line.strip()]


def read_queries(list_path: str, stdin: BinaryIO | None = None) -> list[str]:
    """One query per line (`-` = stdin), in any encoding decode_text understands."""
    raw = _read_list(list_path, "--queries", "queries", stdin)
    lines = [line.strip() for line in decode_text(raw)[0].splitlines()]
    if not any(lines):
        raise InputError(f"--queries {list_path}: no queries in it; give one per line")
    return [line for line in lines if line]


def _read_list(list_path: str, option: str, what: str, stdin: BinaryIO | None) -> bytes:
    if not list_path:  # an unset variable in a script: not stdin, nor the current folder
        raise UsageError(f"{option} '' names no file; give a file, or - for stdin")
    try:
        if list_path == "-":
            if stdin is None and sys.stdin is None:
                raise InputError(f"stdin is closed; pipe {what} in or use {option} FILE")
            return (stdin or sys.stdin.buffer).read()
        return Path(list_path).read_bytes()
    except OSError as exc:
        raise InputError(f"{option} {list_path}: {exc.strerror or exc}") from None
