"""How much memory this process may still take: the least of what the kernel says is
available, what its control groups' limits leave (v2 and v1, every ancestor), and what its
address-space limit (`ulimit -v`) leaves. For a search that holds what it finds (dedupe's
exact similar pairs): past this, the process swaps or a container's limit kills it with no
word (SIGKILL), where giving up early can still say what it left out."""

from __future__ import annotations

import os
import resource
from pathlib import Path

NO_LIMIT = 1 << 62  # cgroup v1 writes "no limit" as a number near 2^63


def available_memory(proc: str = "/proc", cgroups: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process may still take, or None where nothing says (not Linux). `proc` and
    `cgroups` are where those file systems are mounted (tests give trees of their own)."""
    found = [n for n in (_meminfo(Path(proc)), *_cgroup_room(Path(proc), Path(cgroups)),
                         _address_room(Path(proc))) if n is not None]
    return max(0, min(found)) if found else None


def _meminfo(proc: Path) -> int | None:
    """The kernel's estimate of memory available without swapping (MemAvailable, in kB)."""
    for line in _lines(proc / "meminfo"):
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            return _int(value.split()[0] if value.split() else None, 1024)
    return None


def _cgroup_room(proc: Path, cgroups: Path) -> list[int]:
    """What each memory limit of this process's control groups leaves: the limit less the
    use, where page cache the kernel drops first (inactive files) counts as no use."""
    room: list[int] = []
    for line in _lines(proc / "self" / "cgroup"):
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: memory.max ("max": none) in the group and each ancestor
            group = Path(path.strip("/"))
            for folder in (cgroups / part for part in (group, *group.parents)):
                limit = _int(_read(folder / "memory.max"))
                used = _int(_read(folder / "memory.current"))
                if limit is not None and used is not None:
                    room.append(limit - used + (_stat(folder / "memory.stat", "inactive_file")
                                                or 0))
        elif "memory" in controllers.split(","):  # v1: one limit for the hierarchy
            folder = cgroups / "memory" / path.strip("/")
            if not (folder / "memory.stat").exists():
                folder = cgroups / "memory"  # a namespace shows its own group as the root
            limit = _stat(folder / "memory.stat", "hierarchical_memory_limit")
            used = _int(_read(folder / "memory.usage_in_bytes"))
            if limit is not None and used is not None and limit < NO_LIMIT:
                room.append(limit - used + (_stat(folder / "memory.stat",
                                                  "total_inactive_file") or 0))
    return room


def _address_room(proc: Path) -> int | None:
    """What `ulimit -v` leaves of the address space: the limit less what is mapped."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = (_read(proc / "self" / "statm") or "").split()
    pages = _int(mapped[0] if mapped else None, os.sysconf("SC_PAGE_SIZE"))
    return None if pages is None else soft - pages


def _stat(path: Path, key: str) -> int | None:
    """One `key value` line of a cgroup's memory.stat."""
    for line in _lines(path):
        name, _, value = line.partition(" ")
        if name == key:
            return _int(value)
    return None


def _lines(path: Path) -> list[str]:
    return (_read(path) or "").splitlines()


def _read(path: Path) -> str | None:
    try:
        return path.read_text("ascii", "replace").strip()
    except (OSError, ValueError):
        return None


def _int(text: str | None, unit: int = 1) -> int | None:
    try:
        return int(text or "") * unit
    except ValueError:
        return None
