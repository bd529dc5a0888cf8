"""Catalogue bytes per brief: what the rows describing each brief (the `briefs` and `contents`
tables and their indexes) cost beyond the brief's path, measured with SQLite's dbstat on an
archive of Debian package descriptions built with the hashing encoder (storage only: the
model plays no part). Goal (issue 15): at most 80 bytes per brief beyond its path.

The figure for format 3 (before this layout: 256.8 B on 5,000 of these files, 240 B in the
issue) was measured with the code of that format; it cannot be rebuilt in the same run.

`--merge`: the CPU time of `merge` of 4 archives of 5,000 descriptions each (quick: 1,000)
into a new one, by this tree's code and by the code in `--baseline DIR` (a folder holding a
`briefmin` package, e.g. `git archive main briefmin | tar x -C DIR`), alternating, in the
same run."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    PYTHON,
    REPO,
    ensure_corpora,
    log,
    parse_args,
    sample,
    scratch,
    section,
    table,
    text_files,
)

from briefmin import Archive, add, iter_sources

CATALOGUE = ("briefs", "contents", "briefs_path", "briefs_content", "contents_sha")
GOAL = 80


def measure(files: list[Path], parent: Path) -> list[list[object]]:
    work = scratch("catalogue")
    cwd = os.getcwd()
    os.chdir(parent)  # names as a user adding docs/ would store them
    try:
        path = work / "a.bmin"
        with Archive.open(path, write=True, create=True, model="hashing:384") as archive:
            add(archive, iter_sources([str(f.relative_to(parent)) for f in files]))
            space = archive.space()
            names = [r.path for r in archive.records()]
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    n = len(names)
    mean_path = sum(len(p.encode()) for p in names) / n
    rows: list[list[object]] = [[name, space.get(name, 0), space.get(name, 0) / n]
                                for name in CATALOGUE]
    total = sum(space.get(name, 0) for name in CATALOGUE)
    rows.append(["**catalogue**", total, total / n])
    rows.append(["  of which the paths themselves", round(mean_path * n), mean_path])
    rows.append([f"**beyond the path** (goal <= {GOAL})", round(total - mean_path * n),
                 total / n - mean_path])
    return rows


# run in a child, so each side imports its own briefmin (PYTHONPATH) and its CPU is its own
MERGE_CHILD = """
import sys
from briefmin import Archive
from briefmin.store.merge import merge
out, *inputs = sys.argv[1:]
sources = [Archive.open(p) for p in inputs]
with Archive.open(out, write=True, create=True, model="hashing:384") as archive:
    report = merge(archive, sources)
print(report.versions_added, report.contents_added)
"""


def merge_cpu(files: list[Path], parent: Path, baseline: Path, repeats: int = 3
              ) -> list[list[object]]:
    """CPU seconds of merging 4 archives of `files` (a quarter each) with each side's code."""
    work = scratch("catalogue-merge")
    quarter = len(files) // 4
    inputs = []
    cwd = os.getcwd()
    os.chdir(parent)
    try:
        for k in range(4):
            path = work / f"in{k}.bmin"
            with Archive.open(path, write=True, create=True, model="hashing:384") as archive:
                add(archive, iter_sources([str(f.relative_to(parent))
                                           for f in files[k * quarter:(k + 1) * quarter]]))
            inputs.append(str(path))
    finally:
        os.chdir(cwd)
    cpu: dict[str, list[float]] = {"baseline": [], "this tree": []}
    added = ""
    for rep in range(repeats):
        for label, code in (("baseline", baseline), ("this tree", REPO)):
            out = work / f"out-{rep}-{label[0]}.bmin"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run([PYTHON, "-c", MERGE_CHILD, str(out), *inputs],
                                  env={**os.environ, "PYTHONPATH": str(code)},
                                  capture_output=True, text=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append(after.ru_utime + after.ru_stime
                              - before.ru_utime - before.ru_stime)
            added = done.stdout.strip()
            log(f"merge {rep + 1}/{repeats} {label}: {cpu[label][-1]:.2f} CPU s ({added})")
            out.unlink()
    shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(cpu["baseline"])
    return [[label, f"{statistics.median(times):.2f}", " ".join(f"{t:.2f}" for t in times),
             f"{statistics.median(times) / base:.2f}x", added]
            for label, times in cpu.items()]


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merge", action="store_true",
                        help="time `merge` of 4 archives against the code in --baseline")
    parser.add_argument("--baseline", type=Path, default=Path("/tmp/cat-main"),
                        help="a folder holding the baseline's briefmin package")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _options)
    ensure_corpora(args.data)
    corpus = args.data / "debian-descriptions"
    if args.merge:
        files = sample(text_files(corpus / "docs"), 4000 if args.quick else 20_000)
        log(f"merge of 4 archives of {len(files) // 4:,} Debian descriptions")
        rows = merge_cpu(files, corpus, args.baseline.resolve())
        print(section(f"merge of 4 archives of {len(files) // 4:,} Debian descriptions", [
            table(["code", "CPU s (median)", "CPU s (each run)", "vs baseline",
                   "versions, contents added"], rows)]))
        return
    files = sample(text_files(corpus / "docs"), 3000 if args.quick else 20_000)
    log(f"catalogue of {len(files):,} Debian descriptions")
    rows = measure(files, corpus)
    print(section(f"Catalogue bytes per brief ({len(files):,} Debian descriptions)", [
        table(["table or index", "bytes", "bytes per brief"], rows),
        "Pages of each table and index (SQLite dbstat), divided by the number of briefs."]))


if __name__ == "__main__":
    main()
