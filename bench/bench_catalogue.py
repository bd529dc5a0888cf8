"""Catalogue bytes per brief: what the rows describing each brief (the `briefs` and `contents`
tables and their indexes) cost beyond the brief's path, measured with SQLite's dbstat on an
archive of Debian package descriptions built with the hashing encoder (storage only: the
model plays no part). Goal (issue 15): at most 80 bytes per brief beyond its path.

The figure for format 3 (before this layout: 256.8 B on 5,000 of these files, 240 B in the
issue) was measured with the code of that format; it cannot be rebuilt in the same run.

`--merge`: the CPU time of `merge` of 4 archives of 5,000 descriptions each (quick: 1,000)
into a new one, by this tree's code and by the code in `--baseline DIR` (a folder holding a
`briefmin` package, e.g. `git archive main briefmin | tar x -C DIR`), alternating, in the
same run. The inputs are built by the baseline's code (a format both sides read).

`--speed`: the CPU time of `add` (hashing encoder), of `search` (Debian synopses as queries,
each mode) and of restoring everything, by each side's code, in the same run.

The catalogue figures are measured the same way: an archive built by each side's code."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

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

CATALOGUE = ("briefs", "contents", "times", "briefs_path", "briefs_content", "contents_sha")
GOAL = 80

# run in a child, so each side imports its own briefmin (PYTHONPATH): build the archive from
# the names on stdin (in the corpus folder: names as a user adding docs/ would store them)
# and print its dbstat bytes per table and index, and its paths' bytes
SPACE_CHILD = """
import json, sys
from briefmin import Archive, add, iter_sources
with Archive.open(sys.argv[1], write=True, create=True, model="hashing:384") as archive:
    add(archive, iter_sources(sys.stdin.read().splitlines()))
    space = archive.space()
    names = [r.path for r in archive.records()]
print(json.dumps({"space": space, "briefs": len(names),
                  "path_bytes": sum(len(p.encode()) for p in names)}))
"""


def measure(files: list[Path], parent: Path, baseline: Path) -> list[list[object]]:
    """dbstat of the catalogue of an archive of `files` built by the baseline's code and by
    this tree's, per brief."""
    work = scratch("catalogue")
    found = {}
    try:
        for label, code in (("baseline", baseline), ("this tree", REPO)):
            done = subprocess.run(
                [PYTHON, "-c", SPACE_CHILD, str(work / f"{label[0]}.bmin")], cwd=parent,
                input="\n".join(str(f.relative_to(parent)) for f in files),
                env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True,
                check=True)
            found[label] = json.loads(done.stdout.splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    def per_brief(got: dict[str, Any], nbytes: float, bold: bool = False) -> str:
        figure = f"{nbytes / got['briefs']:.1f}"
        return f"**{figure}**" if bold else figure

    def catalogue(got: dict[str, Any]) -> int:
        return sum(got["space"].get(name, 0) for name in CATALOGUE)

    rows: list[list[object]] = []
    for name in CATALOGUE:
        rows.append([f"`{name}`"] + [per_brief(got, got["space"].get(name, 0))
                                     for got in found.values()])
    rows.append(["**catalogue**"] + [per_brief(got, catalogue(got)) for got in found.values()])
    rows.append(["of which the paths themselves"] + [per_brief(got, got["path_bytes"])
                                                    for got in found.values()])
    rows.append([f"**beyond the path** (goal <= {GOAL})"] + [
        per_brief(got, catalogue(got) - got["path_bytes"], bold=True)
        for got in found.values()])
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
    for k in range(4):  # by the baseline's code: an older format is what both sides read
        path = work / f"in{k}.bmin"
        subprocess.run([PYTHON, "-c", SPACE_CHILD, str(path)], cwd=parent, input="\n".join(
            str(f.relative_to(parent)) for f in files[k * quarter:(k + 1) * quarter]),
            env={**os.environ, "PYTHONPATH": str(baseline)}, capture_output=True, text=True,
            check=True)
        inputs.append(str(path))
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


# one side's add, search and restore, each timed in CPU seconds inside the child
SPEED_CHILD = """
import json, sys, tempfile, time
from briefmin import Archive, add, iter_sources
from briefmin.search import search_texts
out, queries = sys.argv[1], json.loads(sys.argv[2])
names = sys.stdin.read().splitlines()
cpu = {}
start = time.process_time()
with Archive.open(out, write=True, create=True, model="hashing:384") as archive:
    add(archive, iter_sources(names))
cpu["add"] = time.process_time() - start
with Archive.open(out) as archive:
    for mode in ("semantic", "lexical", "hybrid"):
        start = time.process_time()
        search_texts(archive, queries, k=10, mode=mode)
        cpu["search " + mode] = time.process_time() - start
    start = time.process_time()
    with tempfile.TemporaryDirectory(dir="/dev/shm") as to:
        archive.restore(archive.records(), to)
        cpu["restore"] = time.process_time() - start
print(json.dumps(cpu))
"""


def speed_cpu(files: list[Path], parent: Path, queries: list[str], baseline: Path,
              repeats: int = 2) -> list[list[object]]:
    """CPU seconds of `add` of `files`, of searching `queries` (each mode) and of restoring
    everything, by each side's code, alternating."""
    work = scratch("catalogue-speed")
    cpu: dict[str, list[dict[str, float]]] = {"baseline": [], "this tree": []}
    try:
        for rep in range(repeats):
            for label, code in (("baseline", baseline), ("this tree", REPO)):
                out = work / f"{rep}-{label[0]}.bmin"
                done = subprocess.run(
                    [PYTHON, "-c", SPEED_CHILD, str(out), json.dumps(queries)], cwd=parent,
                    input="\n".join(str(f.relative_to(parent)) for f in files),
                    env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True,
                    text=True, check=True)
                cpu[label].append(json.loads(done.stdout.splitlines()[-1]))
                log(f"speed {rep + 1}/{repeats} {label}: {cpu[label][-1]}")
                out.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows: list[list[object]] = []
    for step in cpu["baseline"][0]:
        base = statistics.median(run[step] for run in cpu["baseline"])
        this = statistics.median(run[step] for run in cpu["this tree"])
        rows.append([step, f"{base:.2f}", f"{this:.2f}", f"{this / base:.2f}x"])
    return rows


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merge", action="store_true",
                        help="time `merge` of 4 archives against the code in --baseline")
    parser.add_argument("--speed", action="store_true",
                        help="CPU of add, search and restore against the code in --baseline")
    parser.add_argument("--baseline", type=Path, default=Path("/tmp/cat-main"),
                        help="a folder holding the baseline's briefmin package")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _options)
    ensure_corpora(args.data)
    corpus = args.data / "debian-descriptions"
    if args.speed:
        files = sample(text_files(corpus / "docs"), 3000 if args.quick else 20_000)
        held = {f.name for f in files}
        queries = [line.split("\t")[0] for line in
                   (corpus / "queries.tsv").read_text(encoding="utf-8").splitlines()
                   if line.count("\t") == 1 and line.split("\t")[1] in held][:200]
        log(f"add, search ({len(queries)} queries) and restore of {len(files):,} descriptions")
        rows = speed_cpu(files, corpus, queries, args.baseline.resolve())
        print(section(f"add, search and restore of {len(files):,} Debian descriptions, CPU", [
            table(["step", "baseline CPU s", "this tree CPU s", "ratio"], rows),
            f"Medians of 2 runs each, alternating; search: {len(queries)} Debian synopses "
            "(hashing encoder), one call per mode; restore: every brief into /dev/shm."]))
        return
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
    rows = measure(files, corpus, args.baseline.resolve())
    print(section(f"Catalogue bytes per brief ({len(files):,} Debian descriptions)", [
        table(["table or index", "baseline: bytes per brief", "this tree: bytes per brief"],
              rows),
        "Pages of each table and index (SQLite dbstat), divided by the number of briefs; "
        f"baseline: the briefmin package in {args.baseline}."]))


if __name__ == "__main__":
    main()
