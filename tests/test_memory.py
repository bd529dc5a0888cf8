"""available_memory: the least of MemAvailable, every control group limit's room and the
address-space limit's, read from trees laid out as /proc and /sys/fs/cgroup are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from briefmin.memory import available_memory

from .conftest import ROOT

GIB = 1 << 30


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _available(tmp_path: Path, files: dict[str, str]) -> int | None:
    _tree(tmp_path, files)
    return available_memory(str(tmp_path / "proc"), str(tmp_path / "cgroup"))


MEMINFO = {"proc/meminfo": f"MemTotal: {32 * GIB // 1024} kB\n"
                           f"MemAvailable: {20 * GIB // 1024} kB\n"}


def test_with_no_limit_it_is_the_kernels_memavailable(tmp_path: Path) -> None:
    assert _available(tmp_path, {**MEMINFO, "proc/self/cgroup": "0::/\n"}) == 20 * GIB


def test_a_v2_limit_on_an_ancestor_group_counts_less_its_use_and_plus_dropped_cache(
        tmp_path: Path) -> None:
    """`systemd-run -p MemoryMax=4G`, a Slurm job: the limit sits on an ancestor of the
    process's own group, and page cache the kernel drops first is room too."""
    assert _available(tmp_path, {
        **MEMINFO, "proc/self/cgroup": "0::/job/step\n",
        "cgroup/job/step/memory.max": "max\n", "cgroup/job/step/memory.current": "1\n",
        "cgroup/job/memory.max": f"{4 * GIB}\n", "cgroup/job/memory.current": f"{GIB}\n",
        "cgroup/job/memory.stat": f"anon {GIB // 2}\ninactive_file {GIB // 2}\n",
        "cgroup/memory.current": f"{GIB}\n"}) == 4 * GIB - GIB + GIB // 2


def test_a_v1_limit_is_the_hierarchys(tmp_path: Path) -> None:
    """cgroup v1 (Docker on older hosts): memory.stat's hierarchical_memory_limit holds the
    least limit of the group and its ancestors."""
    limited = {**MEMINFO, "proc/self/cgroup": "5:devices:/\n4:memory:/docker/abc\n",
               "cgroup/memory/docker/abc/memory.stat":
                   f"hierarchical_memory_limit {2 * GIB}\ntotal_inactive_file 0\n",
               "cgroup/memory/docker/abc/memory.usage_in_bytes": f"{GIB // 2}\n"}
    assert _available(tmp_path, limited) == 2 * GIB - GIB // 2


def test_a_v1_group_seen_through_its_namespace_and_no_limit(tmp_path: Path) -> None:
    """Inside a namespace the group's files are at the mount's root; a v1 group with no
    limit writes one near 2^63: MemAvailable decides."""
    assert _available(tmp_path, {
        **MEMINFO, "proc/self/cgroup": "4:memory:/process_api/ff78\n",
        "cgroup/memory/memory.stat": "hierarchical_memory_limit 9223372036854771712\n",
        "cgroup/memory/memory.usage_in_bytes": f"{3 * GIB}\n"}) == 20 * GIB


def test_files_it_cannot_read_or_parse_leave_what_the_others_say(tmp_path: Path) -> None:
    assert _available(tmp_path, {
        "proc/meminfo": "MemAvailable: lots kB\n", "proc/self/cgroup": "garbage\n0::/g\n",
        "cgroup/g/memory.max": "12x\n", "cgroup/g/memory.current": "\n"}) is None
    # a group over its limit (use counts the kernel's own pages too): no room, not less
    assert _available(tmp_path, {"proc/meminfo": f"MemAvailable: {GIB // 1024} kB\n",
                                 "proc/self/cgroup": "0::/g\n",
                                 "cgroup/g/memory.max": f"{GIB // 4}\n",
                                 "cgroup/g/memory.current": f"{GIB}\n"}) == 0


def test_ulimit_v_bounds_it() -> None:
    """`ulimit -v 2000000` (kB): at most the address space left under it."""
    code = ("import resource; from briefmin.memory import available_memory; "
            "resource.setrlimit(resource.RLIMIT_AS, (2 * 10**9, resource.RLIM_INFINITY)); "
            "print(available_memory())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert 0 < int(out) < 2 * 10**9


def test_on_this_machine_it_is_a_share_of_its_memory() -> None:
    if not os.path.exists("/proc/meminfo"):
        pytest.skip("not Linux")
    available = available_memory()
    assert available is not None
    assert 0 <= available <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
