"""Run every `bench/bench_*.py`, print their markdown sections and write the results file.

    .venv/bin/python bench/run.py [--quick] [--data bench/data] [--only NAME ...]

A full run appends its report to bench/RESULTS.md (committed), as a section of its own: that
file is also the journal of every measurement made by hand that the README cites, so a run
never overwrites it. A quick run writes bench/out/RESULTS-quick.md (git-ignored). A script that
fails is reported as failed, with the end of its stderr, and makes the run exit 1."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

from common import BENCH, DEFAULT_DATA, OUT, PYTHON, REPO, ensure_corpora, log, machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="samples, a few minutes")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="run only these scripts (e.g. size ingest)")
    parser.add_argument("--out", type=Path, help="results file (default: see above)")
    args = parser.parse_args()
    ensure_corpora(args.data.resolve())
    scripts = sorted(BENCH.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    started = datetime.now(UTC)
    sections, commands, failed = [], [], []
    for script in scripts:
        cmd = [PYTHON, str(script), *(["--quick"] if args.quick else []),
               "--data", str(args.data)]
        shown = " ".join(shlex.quote(_rel(c)) for c in cmd)
        commands.append(shown)
        log(f"== {shown}")
        start = time.perf_counter()
        code, out, tail = _run(cmd)
        took = time.perf_counter() - start
        log(f"== {script.name}: exit {code} after {took:.0f} s")
        if code == 0 and out.strip():
            sections.append(out.strip() + f"\n\n_{script.name}: {took:.0f} s_\n")
        else:
            failed.append(script.name)
            sections.append(f"## {script.name}: FAILED (exit {code} after {took:.0f} s)\n\n"
                            f"`{shown}`\n\n```\n{''.join(tail).rstrip()}\n```\n"
                            + (f"\n{out.strip()}\n" if out.strip() else ""))
    header = "\n".join([
        f"# briefmin benchmarks{' (quick: samples)' if args.quick else ''}",
        "",
        f"- date: {started.isoformat(timespec='seconds')} "
        f"(took {(datetime.now(UTC) - started).total_seconds() / 60:.1f} min)",
        f"- machine: {machine()}",
        f"- git: {_git_head()}",
        f"- command: `{' '.join(shlex.quote(_rel(a)) for a in [PYTHON, *sys.argv])}`",
        "- scripts:", *[f"  - `{c}`" for c in commands],
        *([f"- **failed: {', '.join(failed)}**"] if failed else []),
        "",
    ])
    report = header + "\n" + "\n".join(sections)
    print(report)
    journal = BENCH / "RESULTS.md"
    target = args.out or (OUT / "RESULTS-quick.md" if args.quick else journal)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target == journal and target.exists():
        with target.open("a") as results:
            results.write("\n" + _as_section(report))
        log(f"appended this run to {_rel(str(target))}")
    else:
        target.write_text(report)
        log(f"wrote {_rel(str(target))}")
    return 1 if failed else 0


def _as_section(report: str) -> str:
    """The report one heading level down, so that it is a section of the journal."""
    return "\n".join("#" + line if line.startswith("#") and not line.startswith("#!")
                     else line for line in report.splitlines()) + "\n"


def _run(cmd: list[str]) -> tuple[int, str, list[str]]:
    """Run one script: its stderr streams through (progress) and its last lines are kept."""
    tail: deque[str] = deque(maxlen=30)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stdout.read()), daemon=True)
    reader.start()
    for line in stderr:
        sys.stderr.write(line)
        tail.append(line)
    reader.join()
    return proc.wait(), "".join(out), list(tail)


def _git_head() -> str:
    got = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=REPO, capture_output=True,
                         text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True,
                           text=True, check=False).stdout.strip()
    return f"{got}{' (with uncommitted changes)' if dirty else ''}"


def _rel(arg: str) -> str:
    try:
        return str(Path(arg).relative_to(REPO)) if arg.startswith(str(REPO)) else arg
    except ValueError:
        return arg


if __name__ == "__main__":
    sys.exit(main())
