"""Shared helpers for the benchmark scripts: corpora, timing, peak memory, markdown tables.

Every `bench/bench_*.py` prints progress to stderr and ONE markdown section to stdout (see
`section`); `bench/run.py` runs them all. Nothing here imports briefmin's model code, so a
script decides itself what it loads."""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_DATA = BENCH / "data"
OUT = BENCH / "out"  # git-ignored scratch space: staged corpora, archives, tarballs
FETCH = REPO.parent / "shared" / "data" / "fetch-corpora.sh"
PYTHON = sys.executable
BRIEFMIN = [PYTHON, "-m", "briefmin"]
TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".rst")  # briefmin's default --include


# -- arguments and output --------------------------------------------------------------------

def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    """The convention every bench script shares: `[--quick] [--data DIR]`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="run on samples, in a few minutes")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="corpora folder (fetched when missing)")
    if extra:
        extra(parser)
    args = parser.parse_args()
    args.data = args.data.resolve()
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def command_line() -> str:
    """The exact command that ran this script, relative to the repository, for the report."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    python = os.path.relpath(PYTHON, REPO) if PYTHON.startswith(str(REPO)) else PYTHON
    return " ".join(shlex.quote(a) for a in [python, script, *sys.argv[1:]])


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; numbers right-aligned."""
    rows = [[_cell(c) for c in row] for row in rows]
    numeric = [all(_is_number(r[i]) for r in rows if r[i]) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def section(title: str, body: Sequence[str]) -> str:
    """One benchmark's markdown: heading, exact command, then tables and notes."""
    return "\n\n".join([f"## {title}", f"`{command_line()}`", *body]) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("x%"))
        return True
    except ValueError:
        return False


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.3f}x" if baseline else "n/a"


def mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB"


# -- machine ---------------------------------------------------------------------------------

def machine() -> str:
    """CPU, cores, memory, OS, Python and zstd: enough to compare two RESULTS.md files."""
    cpu = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    zstd = _tool_version(["zstd", "--version"])
    return (f"{cpu}, {os.cpu_count()} cores (os.cpu_count), {mem}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
            f"{zstd}")


def _tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False
                              ).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return f"{cmd[0]}: not found"


# -- corpora ---------------------------------------------------------------------------------

def ensure_corpora(data: Path) -> None:
    """Fetch the real corpora with ../shared/data/fetch-corpora.sh when a part is missing."""
    if (data / "linux-doc").is_dir() and (data / "debian-descriptions" / "docs").is_dir():
        return
    if not FETCH.exists():
        raise SystemExit(f"corpora missing in {data} and {FETCH} not found")
    log(f"fetching corpora into {data} (once)")
    subprocess.run(["bash", str(FETCH), str(data)], check=True)


def text_files(root: Path) -> list[Path]:
    """Brief files under root in the order `briefmin add` walks them (sorted folders)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [Path(folder) / f for f in sorted(files) if f.endswith(TEXT_SUFFIXES)]
    return found


def sample(paths: Sequence[Path], n: int, seed: int = 7) -> list[Path]:
    """n paths chosen at random (deterministically), kept in their original order."""
    if n >= len(paths):
        return list(paths)
    chosen = sorted(random.Random(seed).sample(range(len(paths)), n))
    return [paths[i] for i in chosen]


def stage(files: Sequence[Path], root: Path, dest: Path) -> Path:
    """Copy files (keeping their path under root) into a fresh folder dest."""
    if dest.exists():
        shutil.rmtree(dest)
    for path in files:
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dest


def scratch(name: str) -> Path:
    """A fresh scratch folder under bench/out/ (git-ignored)."""
    OUT.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=OUT))


# -- timing and memory -----------------------------------------------------------------------

@dataclass
class Run:
    seconds: float
    peak_rss: int  # bytes, of that child process alone (wait4's ru_maxrss)
    returncode: int
    stdout: str
    stderr: str


def run(cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        shell: bool = False, check: bool = True) -> Run:
    """Run a command; wall time and the peak RSS of that child (not of earlier children, as
    RUSAGE_CHILDREN would mix in). With shell=True the RSS is the largest process of the
    pipeline (maxrss of the shell's children is not seen): use it for timings only."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd if not shell else " ".join(cmd), cwd=cwd, shell=shell,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(seconds, usage.ru_maxrss * 1024, proc.returncode,
                     out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}\n"
                         f"{result.stderr[-2000:]}")
    return result


def timed_cpu(cmd: Sequence[str] | str, env: dict[str, str] | None = None,
              cwd: Path = REPO) -> tuple[float, float]:
    """(wall s, CPU s of the process and everything it waited for, from wait4: what
    /usr/bin/time reports) of one fresh command, its output discarded; exits on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {cmd}\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Median wall seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank: with few values p99 is the maximum."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def briefmin(*args: str, check: bool = True) -> Run:
    """`python -m briefmin ARGS` as a child process, from the repository root."""
    return run([*BRIEFMIN, *args], cwd=REPO, check=check)


def dir_bytes(root: Path) -> tuple[int, int]:
    """(files, bytes) of the brief files under root."""
    files = text_files(root)
    return len(files), sum(p.stat().st_size for p in files)


@functools.cache
def _bundled_encoder() -> Any:
    from briefmin.encoder import BUNDLED_MODEL, load_encoder

    return load_encoder(BUNDLED_MODEL)


def windows_per_file(files: Sequence[Path]) -> list[int]:
    """Model windows (inputs of at most 256 tokens) `briefmin add` encodes for each file."""
    from briefmin.encoder import chunk_spans
    from briefmin.text import decode_text

    encoder = _bundled_encoder()
    return [len(chunk_spans(encoder.token_spans(decode_text(path.read_bytes())[0]),
                            encoder.max_tokens)) for path in files]
