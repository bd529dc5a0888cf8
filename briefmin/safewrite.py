"""Writing files under a folder without ever leaving it: shared by `restore` (names from an
archive, which may be hostile) and `minify --to` (names from the command line).

A name is refused when it is absolute or has '..' parts; parent folders are created one by one
and a symlink among them is refused; the file is written to a temporary name (O_EXCL |
O_NOFOLLOW) and renamed into place, which replaces a name and never follows it."""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

from .errors import BriefminError


def safe_target(root: Path, name: str, error: type[BriefminError]) -> Path:
    """Where `name` (a '/'-separated relative path) goes under `root`."""
    parts = name.split("/")
    if (not name or name.startswith("/") or "\x00" in name
            or any(p in ("", ".", "..") for p in parts)):
        raise error(f"refusing to write {name!r}: the name would escape the target folder "
                    f"{root}")
    return root.joinpath(*parts)


def write_inside(root: Path, target: Path, data: bytes, error: type[BriefminError]) -> None:
    """Write `data` at `target` (from safe_target) atomically, never through a symlink."""
    folder = root
    for part in target.relative_to(root).parts[:-1]:
        folder = folder / part
        if os.path.islink(folder):
            raise error(f"refusing to write through symlink {folder}")
        if not folder.exists():
            folder.mkdir()
        elif not folder.is_dir():
            raise error(f"cannot write into {folder}: it is a file, not a folder")
    if target.is_dir() and not target.is_symlink():
        raise error(f"cannot write {target}: a folder is in the way")
    tmp = folder / f".{target.name}.briefmin-{os.getpid()}-{time.monotonic_ns()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
