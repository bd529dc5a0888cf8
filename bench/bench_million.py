"""A million briefs end to end through the real CLI: add, re-add, search, dedupe, verify, restore.

N distinct synthetic briefs (default 1,000,000; --quick 100,000) are made from the Debian
descriptions: each one joins two or three descriptions chosen by its number (cut at a word
boundary), swaps a few adjacent words and ends with a sentence carrying its number, so no two
are equal and near-copies are rare; 0.5-2 KB each, in folders of 1,000, on tmpfs when it has
room. The archive uses the instant `hashing:384` encoder: this measures the storage path and
the commands over the archive, not the model (see bench_ingest.py for that).

Every command runs as a fresh process, timed, with its own peak RSS (wait4). Baselines in the
same run: `tar c DIR | zstd -19 -T1` of a 10k slice (briefs/s of the tarball) and of a 100k
slice (bytes, scaled to N).

`--keep DIR` builds the briefs and the archive in DIR and leaves them there; `--reuse DIR`
then times only the whole `dedupe` and the `restore` of 1,000 random briefs on them (each
~10 min on 2 shared cores, where the build is ~35 min under load):

    .venv/bin/python bench/bench_million.py --keep /dev/shm/m1      # everything, kept
    .venv/bin/python bench/bench_million.py --reuse /dev/shm/m1     # dedupe + restore only
    .venv/bin/python bench/bench_million.py --keep /dev/shm/m1 --build-only  # build, no timing

`--pairs ARCHIVE` measures only the `similar` search on a 100k sample of an archive's codes:
exact all-pairs beside the inverted file `near_pairs` takes for codes that band neither way
(recall, CPU), and faiss-cpu's IVF on the same lists when it imports (it is no dependency:
`pip install --target /tmp/faisslib faiss-cpu==1.15.1`, then PYTHONPATH=...:/tmp/faisslib):

    PYTHONPATH=.:bench .venv/bin/python bench/bench_million.py --pairs /dev/shm/m1/million.bmin

`--pairs-held ROWS` plans the inverted file on ALL the archive's codes, as `dedupe` does, with
this code's settings and with the settings before the lists were doubled (sqrt(32 n) lists,
16 k-means rows a list, 512 sampled rows), and checks each plan's probes on the exact pairs
of ROWS other seeded rows (held out: the plan never reads them), with no scan:

    PYTHONPATH=.:bench .venv/bin/python bench/bench_million.py --pairs /dev/shm/m1/million.bmin \
        --pairs-held 2000

`--pairs-against DIR` adds the planned IVF of another `briefmin` package (DIR/briefmin, say
`git archive main briefmin | tar -x -C DIR`) on the same sample, in a child process: the
same-run baseline of a change to the search.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    BRIEFMIN,
    OUT,
    Run,
    ensure_corpora,
    log,
    machine,
    mb,
    parse_args,
    ratio,
    run,
    section,
    table,
)

PER_FOLDER = 1_000
STEPS = (10_000, 100_000, 1_000_000)  # the archive sizes at which the add rate is reported
GOALS = {  # issue 17 / issue 15 targets, seconds
    "add": 600.0, "readd": 60.0, "search": 1.5, "dedupe": 300.0}
RATE_GOAL = 3_000.0  # briefs/s of the storage path, at every size
RSS_GOAL = 4e9
STOP_AFTER = 3  # x its goal: dedupe is stopped there
AS_CAP = 10 * 2**30  # address space of every process this script starts
QUERY = "tool to synchronize files between two computers over the network"
RESTORE_N = 1_000
RESTORE_CHUNK = 500  # selectors per `restore` process: arguments, restore takes no list file
MIN_BYTES, MAX_BYTES = 500, 2_000


@dataclass
class Step:
    label: str
    briefs: int
    result: Run


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra_args)
    n = args.n or (100_000 if args.quick else 1_000_000)
    # Children inherit this cap: a command that outgrows the goal by far fails with a
    # MemoryError instead of pushing a shared machine into the OOM killer.
    resource.setrlimit(resource.RLIMIT_AS, (int(AS_CAP), int(AS_CAP)))
    if args.pairs and args.pairs_held:
        print(section(f"A million briefs: the inverted file's lists (issue 17), "
                      f"{args.pairs.name}", measure_held(args.pairs, args.pairs_held,
                                                         args.pairs_threshold)))
        return
    if args.pairs:
        print(section(f"A million briefs: the similar kind (issue 17), {args.pairs.name}",
                      measure_pairs(args.pairs, args.pairs_n, args.pairs_threshold,
                                    args.pairs_against)))
        return
    if args.reuse:
        print(section(f"A million briefs: dedupe and restore again ({n:,} briefs, "
                      "hashing:384)", measure_again(args.reuse, n)))
        return
    ensure_corpora(args.data)
    work = args.keep or _workdir(n)
    work.mkdir(parents=True, exist_ok=True)
    log(f"work folder {work}")
    if args.build_only:
        if not args.keep:
            raise SystemExit("--build-only needs --keep DIR (what it builds is for --reuse)")
        build(args.data / "debian-descriptions" / "docs", work, n)
        return
    try:
        body = measure(args.data / "debian-descriptions" / "docs", work, n)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(section(f"A million briefs end to end ({n:,} briefs, hashing:384)", body))


def _extra_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=None,
                        help="briefs to make (default 1M, --quick 100k)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build in this folder and keep the briefs and the archive")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="a folder --keep made: time only dedupe and restore on it")
    parser.add_argument("--build-only", action="store_true",
                        help="with --keep: make the briefs and the archive, time nothing else")
    parser.add_argument("--pairs", type=Path, default=None,
                        help="an archive (opened from a copy): the similar-pair search's recall "
                        "and CPU on a sample of its codes, against exact all-pairs; nothing else")
    parser.add_argument("--pairs-n", type=int, default=100_000,
                        help="with --pairs: rows sampled (default 100,000)")
    parser.add_argument("--pairs-threshold", type=float, default=0.85,
                        help="with --pairs: the cosine threshold (dedupe's default 0.85)")
    parser.add_argument("--pairs-held", type=int, default=0,
                        help="with --pairs: plan on all the codes and check the probes on the "
                        "exact pairs of this many held-out seeded rows (no scan, no sample)")
    parser.add_argument("--pairs-against", type=Path, default=None,
                        help="with --pairs: a folder holding another `briefmin` package (say "
                        "`git archive BASE briefmin | tar -x -C DIR`): its planned IVF on the "
                        "same sample, in a child process, as a row of the same table")


def _workdir(n: int) -> Path:
    """tmpfs when it has room for the briefs, the archive and a restore (about 3.5 KB a
    brief, with slack); else bench/out."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > n * 3_500 + 2e9:
        return Path(tempfile.mkdtemp(prefix="million-", dir=shm))
    OUT.mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="million-", dir=OUT))


# -- the synthetic briefs --------------------------------------------------------------------

def make_briefs(docs: Path, root: Path, n: int) -> int:
    """Write n distinct briefs under root/dNNNN/bNNNNNNN.txt; returns their total bytes."""
    bases = [p.read_text(errors="replace").strip() for p in sorted(docs.iterdir())]
    total = 0
    for folder_start in range(0, n, PER_FOLDER):
        folder = root / f"d{folder_start // PER_FOLDER:04d}"
        folder.mkdir(parents=True)
        for i in range(folder_start, min(n, folder_start + PER_FOLDER)):
            data = brief_text(bases, i).encode()
            (folder / f"b{i:07d}.txt").write_bytes(data)
            total += len(data)
        if folder_start % 100_000 == 0:
            log(f"  made {folder_start:,} briefs")
    return total


def brief_text(bases: list[str], i: int) -> str:
    """Brief i: descriptions i, then others picked by a seeded generator, until ≥ 500 bytes;
    a few adjacent words swapped; a closing sentence with i. Deterministic."""
    rng = random.Random(i)
    parts = [_cut(bases[i % len(bases)], MAX_BYTES // 2)]
    while sum(len(p) for p in parts) < MIN_BYTES or len(parts) < 2:
        parts.append(_cut(bases[rng.randrange(len(bases))], MAX_BYTES // 3))
    words = "\n\n".join(parts).split(" ")
    for _ in range(3):
        j = rng.randrange(max(1, len(words) - 1))
        words[j:j + 2] = words[j:j + 2][::-1]
    return (" ".join(words) + f"\n\nArchived as brief number {i:,}, revision "
            f"{rng.randrange(1, 100)}.\n")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


# -- the measurements ------------------------------------------------------------------------

def build(docs: Path, work: Path, n: int) -> tuple[int, list[Step]]:
    """The briefs in work/briefs and the archive work/million.bmin, added in STEPS; returns
    the briefs' bytes and the add steps."""
    root = work / "briefs"
    log(f"making {n:,} briefs in {root}")
    started = time.perf_counter()
    raw = make_briefs(docs, root, n)
    log(f"  {raw / 1e6:,.0f} MB in {time.perf_counter() - started:.0f} s")
    folders = sorted(p.name for p in root.iterdir())
    archive = work / "million.bmin"
    steps: list[Step] = []
    done = 0
    for upto in [s for s in STEPS if s < n] + [n]:
        log(f"add briefs {done:,}..{upto:,}")
        result = _briefmin(root, "add", str(archive), *folders[done // PER_FOLDER:
                                                               upto // PER_FOLDER],
                           "--model", "hashing:384", "-q")
        steps.append(Step(f"{done:,}..{upto:,}", upto - done, result))
        log(f"  {(upto - done) / result.seconds:,.0f} briefs/s")
        done = upto
    return raw, steps


def measure(docs: Path, work: Path, n: int) -> list[str]:
    raw, steps = build(docs, work, n)
    root, archive = work / "briefs", work / "million.bmin"
    folders = sorted(p.name for p in root.iterdir())
    size = archive.stat().st_size

    log("baseline: tar c | zstd -19 -T1 of the first 10k briefs")
    slice10 = min(n, 10_000)
    tar10 = _tar(root, folders[:slice10 // PER_FOLDER], work / "10k.tar.zst")
    log("baseline: tar c | zstd -19 -T1 of the first 100k briefs (size)")
    slice100 = min(n, 100_000)
    tar100 = _tar(root, folders[:slice100 // PER_FOLDER], work / "100k.tar.zst")
    tar100_bytes = (work / "100k.tar.zst").stat().st_size
    tar_scaled = tar100_bytes * n / slice100

    log(f"re-add of all {n:,}, unchanged")
    readd = _briefmin(root, "add", str(archive), *folders, "-q")
    help_text = _briefmin(root, "search", "--help").stdout
    searches = {"default": _search(root, archive, [])}
    if re.search(r"--mode\b(?!l)", help_text):
        searches["--mode semantic"] = _search(root, archive, ["--mode", "semantic"])
    log("dedupe --json, whole archive")
    dedupe = _briefmin(root, "dedupe", str(archive), "--json", devnull=True, check=False,
                       limit=STOP_AFTER * GOALS["dedupe"])
    log("verify")
    verify = _briefmin(root, "verify", str(archive), check=False)
    restore = _restore(root, archive, work / "restored", n)

    add_total = sum(s.result.seconds for s in steps)
    rate10 = slice10 / tar10.seconds
    rows = []
    for s in steps:
        rate = s.briefs / s.result.seconds
        rows.append([f"add briefs {s.label}", f"{s.result.seconds:,.1f} s",
                     f"{rate:,.0f} briefs/s", _met(rate >= RATE_GOAL, f"≥ {RATE_GOAL:,.0f}/s"),
                     f"{rate10:,.0f} briefs/s", ratio(rate, rate10), _rss(s.result)])
    rows.append([f"add, all {n:,} (sum of the steps)", f"{add_total:,.1f} s",
                 f"{n / add_total:,.0f} briefs/s",
                 _met(add_total < GOALS["add"] * n / 1e6, f"< {GOALS['add'] * n / 1e6:,.0f} s"),
                 f"{rate10:,.0f} briefs/s", ratio(n / add_total, rate10),
                 _rss(max((s.result for s in steps), key=lambda r: r.peak_rss))])
    rows.append([f"re-add of all {n:,}, unchanged", f"{readd.seconds:,.1f} s",
                 f"{n / readd.seconds:,.0f} briefs/s",
                 _met(readd.seconds < GOALS["readd"], f"< {GOALS['readd']:g} s"), "", "",
                 _rss(readd)])
    for mode, (median, worst) in searches.items():
        rows.append([f"cold `search -k 10` {mode}, median of 5", f"{median.seconds:.2f} s",
                     f"slowest {worst.seconds:.2f} s",
                     _met(median.seconds < GOALS["search"], f"< {GOALS['search']:g} s"), "", "",
                     _rss(worst)])
    rows.append(["`dedupe --json > /dev/null`, whole archive", f"{dedupe.seconds:,.1f} s",
                 f"exit {dedupe.returncode}" + (f" (stopped at {STOP_AFTER}x the goal)"
                                                  if dedupe.returncode == -9 else ""),
                 _met(dedupe.seconds < GOALS["dedupe"] and dedupe.returncode in (0, 1),
                      f"< {GOALS['dedupe']:g} s"), "", "", _rss(dedupe)])
    rows.append(["`verify`", f"{verify.seconds:,.1f} s", f"exit {verify.returncode}",
                 "exit 0" if verify.returncode == 0 else "FAILED", "", "", _rss(verify)])
    rows.append([f"`restore` of {RESTORE_N:,} random briefs ({len(restore)} processes of "
                 f"≤ {RESTORE_CHUNK} selectors)", f"{sum(r.seconds for r in restore):,.1f} s",
                 f"{RESTORE_N / sum(r.seconds for r in restore):,.0f} briefs/s",
                 "byte-exact", "", "",
                 _rss(max(restore, key=lambda r: r.peak_rss))])
    sizes = [
        ["briefs on disk (file bytes)", mb(raw), ""],
        ["briefmin archive", mb(size), ratio(size, tar_scaled)],
        [f"`tar c \\| zstd -19 -T1` of {slice100:,} briefs x {n / slice100:g}", mb(tar_scaled),
         "1.000x"],
        ["briefmin archive bytes per brief", f"{size / n:,.0f}", ""],
    ]
    return [
        f"Machine: {machine()}.",
        f"{n:,} synthetic briefs ({raw / 1e6:,.0f} MB, mean {raw / n:,.0f} B) made from the "
        f"Debian descriptions (two or three joined, three word swaps, a numbered closing "
        f"sentence), {PER_FOLDER:,} per folder, on {work.parent}. `briefmin add A FOLDERS "
        f"--model hashing:384 -q` in steps, so the rate is the one at that archive size; the "
        f"hashing encoder costs microseconds, so these are storage-path figures. Baseline: "
        f"`tar c | zstd -19 -T1` of the first 10,000 briefs, {tar10.seconds:.1f} s "
        f"({rate10:,.0f} briefs/s; its RSS is the largest process of the pipeline: "
        f"{tar10.peak_rss / 1e6:,.0f} MB). Every command is a fresh process; RSS goal "
        f"< {RSS_GOAL / 1e9:g} GB each.",
        table(["step", "wall", "rate", "goal", "tar \\| zstd -19 (10k)", "ratio", "peak RSS"],
              rows),
        f"The query encoder of `hashing:384` costs nothing, so the search time is opening "
        f"the archive, loading the codes and scanning them; the bundled model adds its own "
        f"load (see bench_search.py). Search query: \"{QUERY}\"."
        + ("" if "--mode semantic" in searches else " `search --mode` does not exist on "
           "this commit (hybrid search not merged yet), so only the default is timed."),
        table(["size", "bytes", "vs tar \\| zstd -19"], sizes),
        f"The 100k tarball took {tar100.seconds:,.1f} s. Dedupe stderr tail: "
        f"`{_tail(dedupe.stderr)}`; verify: `{_tail(verify.stdout + verify.stderr)}`.",
    ]


def measure_again(work: Path, n: int) -> list[str]:
    """dedupe and restore on an archive a --keep run left (briefs in work/briefs)."""
    root, archive = work / "briefs", work / "million.bmin"
    if not archive.is_file():
        raise SystemExit(f"{archive} is missing: build it with --keep {work}")
    log("dedupe --json, whole archive")
    dedupe = _briefmin(root, "dedupe", str(archive), "--json", devnull=True, check=False,
                       limit=STOP_AFTER * GOALS["dedupe"])
    restored = work / "restored"
    shutil.rmtree(restored, ignore_errors=True)
    restore = _restore(root, archive, restored, n)
    shutil.rmtree(restored, ignore_errors=True)
    seconds = sum(r.seconds for r in restore)
    return [
        f"Machine: {machine()}. Archive: {archive.stat().st_size / 1e6:,.0f} MB, built by an "
        f"earlier `--keep` run.",
        table(["step", "wall", "result", "goal", "peak RSS"], [
            ["`dedupe --json > /dev/null`, whole archive", f"{dedupe.seconds:,.1f} s",
             f"exit {dedupe.returncode}" + (f" (stopped at {STOP_AFTER}x the goal)"
                                             if dedupe.returncode == -9 else ""),
             _met(dedupe.seconds < GOALS["dedupe"] and dedupe.returncode in (0, 1),
                  f"< {GOALS['dedupe']:g} s"), _rss(dedupe)],
            [f"`restore` of {RESTORE_N:,} random briefs ({len(restore)} processes)",
             f"{seconds:,.1f} s", f"{RESTORE_N / seconds:,.0f} briefs/s, byte-exact", "",
             _rss(max(restore, key=lambda r: r.peak_rss))]]),
        f"Dedupe stderr tail: `{_tail(dedupe.stderr)}`.",
    ]


def measure_pairs(path: Path, n: int, threshold: float,
                  against: Path | None = None) -> list[str]:
    """The `similar` search on a seeded sample of n rows of an archive's codes: which plan
    near_pairs takes, exact all-pairs beside the IVF (its planned probes and a few others),
    recall against exact and CPU seconds, and faiss-cpu's IVF on the same lists and probes
    when it is importable (it is not a dependency: PYTHONPATH=/tmp/faisslib)."""
    import numpy as np

    from briefmin import Archive
    from briefmin.nearpairs import (
        IvfPlan,
        Pairs,
        all_code_pairs,
        band_plan,
        ivf_pairs,
        ivf_plan,
        projected_signs,
    )
    from briefmin.store import BRIEF_KINDS

    copy = Path(tempfile.mkdtemp(prefix="pairs-", dir=OUT)) / path.name
    shutil.copyfile(path, copy)  # the archive is only read, but a copy is never a risk
    with Archive.open(copy) as archive:
        stored = archive.vectors(kinds=BRIEF_KINDS)
        all_codes = archive.all_int8(BRIEF_KINDS)
        rows = np.sort(np.random.default_rng(0).choice(
            len(all_codes), min(n, len(all_codes)), replace=False))
        codes, bits = all_codes[rows], stored.bits[rows]
        norms = stored.lengths(all_codes)[rows]
    shutil.rmtree(copy.parent)
    del all_codes
    columns = np.unpackbits(bits, axis=1).T
    stored_plan = band_plan(len(codes), len(columns), threshold, ones=columns.mean(axis=1))
    projected = projected_signs(codes)
    projected_plan = band_plan(len(codes), len(projected), threshold,
                               ones=projected.mean(axis=1), hyperplanes=True)
    del columns, projected

    def cpu(fn: Callable[[], Pairs]) -> tuple[Pairs, float, float]:
        wall, start = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.process_time() - start, time.perf_counter() - wall

    log(f"exact all-pairs over {len(codes):,} rows")
    exact, exact_cpu, exact_wall = cpu(lambda: all_code_pairs(codes, norms, threshold))
    want = exact.i * len(codes) + exact.j

    def recall(found: Pairs) -> tuple[float, int]:
        keys = np.unique(found.i * len(codes) + found.j)
        return float(np.isin(want, keys).mean()) if len(want) else 1.0, int(
            (~np.isin(keys, want)).sum())

    start = time.process_time()
    plan = ivf_plan(codes, norms, threshold)
    plan_cpu = time.process_time() - start
    log(f"IVF plan: {len(plan.centres)} lists, {plan.probes} probes, sample recall "
        f"{plan.recall:.4f} of {plan.sampled_pairs} pairs, {plan_cpu:.1f} CPU s")
    rows_out = [["exact `all_code_pairs`", f"{len(exact):,}", "1.0000", "", "",
                 f"{exact_cpu:.1f}", f"{exact_wall:.1f}", "1.00x"]]
    for probes in sorted({plan.probes, max(1, plan.probes // 2), plan.probes * 2}):
        trial = IvfPlan(plan.centres, probes, plan.recall, plan.sampled_pairs)
        log(f"IVF, {probes} probes")
        found, seconds, wall = cpu(lambda t=trial: ivf_pairs(codes, norms, threshold, t))
        got, extra = recall(found)
        label = "numpy IVF" + (" (planned)" if probes == plan.probes else "")
        rows_out.append([f"{label}, {len(plan.centres)} lists, {probes} probes",
                         f"{len(found):,}", f"{got:.4f}", str(extra),
                         f"{plan.recall:.4f}" if probes == plan.probes else "",
                         f"{seconds:.1f} (+{plan_cpu:.1f} plan)", f"{wall:.1f}",
                         f"{exact_cpu / (seconds + plan_cpu):.1f}x"])
        log(f"  {rows_out[-1]}")
    if against:
        rows_out.append(_against_row(against, codes, norms, threshold, recall, exact_cpu))
    rows_out += _faiss_rows(codes, norms, threshold, plan, recall, exact_cpu, cpu)
    return [f"{len(codes):,} rows sampled (seed 0) of {path} at cosine ≥ {threshold}. The "
            f"stored sign bits' band plan: {'none' if stored_plan is None else 'exists'}; "
            f"the SimHash projections': {'none' if projected_plan is None else 'exists'} "
            "(`near_pairs` takes the IVF only when both are none). Recall: the share of "
            "exact pairs found; extra: pairs found that exact does not hold (must be 0); "
            "sampled: the plan's own estimate, from the exact pairs of "
            f"{plan.sampled_pairs} pairs of a seeded sample of rows. CPU seconds "
            "(process time, all threads); x: exact's CPU over the method's, plan included.",
            "", table(["method", "pairs", "recall", "extra", "sampled", "CPU s", "wall s",
                       "x exact"], rows_out)]


def measure_held(path: Path, held: int, threshold: float) -> list[str]:
    """ivf_plan on every code of the archive, with this code's settings and the earlier
    ones, each checked on the exact pairs of `held` other seeded rows: the share whose two
    rows meet within the plan's probes (what `ivf_pairs` finds), and the probes that 0.99 and
    0.992 of them need. Scan rows: n x the mean size of the lists a row probes, from filing
    50,000 seeded rows."""
    import math

    import numpy as np

    from briefmin import Archive, nearpairs
    from briefmin.nearpairs import _position, decoded, ivf_plan, nearest_lists, query_pairs
    from briefmin.store import BRIEF_KINDS

    copy = Path(tempfile.mkdtemp(prefix="pairs-", dir=OUT)) / path.name
    shutil.copyfile(path, copy)
    with Archive.open(copy) as archive:
        codes = archive.all_int8(BRIEF_KINDS)
        norms = archive.vectors(kinds=BRIEF_KINDS).lengths(codes)
    shutil.rmtree(copy.parent)
    n = len(codes)
    rows = np.sort(np.random.default_rng(12345).choice(n, min(n, held), replace=False))
    start = time.process_time()
    exact = query_pairs(decoded(codes[rows], norms[rows]), codes, norms, threshold,
                        block=8192)[0]
    keep = rows[exact.i] != exact.j
    a, b = rows[exact.i][keep], exact.j[keep]
    log(f"held-out: {len(rows):,} rows, {len(a):,} exact pairs, "
        f"{time.process_time() - start:.1f} CPU s")
    filed = np.sort(np.random.default_rng(7).choice(n, min(n, 50_000), replace=False))
    out = []
    now = (int(math.sqrt(n * nearpairs.IVF_LISTS_BALANCE)), nearpairs.IVF_TRAIN_PER_LIST,
           nearpairs.IVF_SAMPLE)
    for label, (nlist, train, sample) in (("this code", now),
                                          ("before (sqrt(32 n) lists)",
                                           (int(math.sqrt(n * 32)), 16, 512))):
        saved = nearpairs.IVF_TRAIN_PER_LIST
        nearpairs.IVF_TRAIN_PER_LIST = train
        try:
            start = time.process_time()
            plan = ivf_plan(codes, norms, threshold, nlist=nlist, sample=sample)
            planned = time.process_time() - start
        finally:
            nearpairs.IVF_TRAIN_PER_LIST = saved
        most = max(1, nlist // 8)
        need = np.empty(len(a), np.int64)
        for at in range(0, len(a), 4096):
            near_a = nearest_lists(codes[a[at:at + 4096]], plan.centres, most)
            near_b = nearest_lists(codes[b[at:at + 4096]], plan.centres, most)
            need[at:at + 4096] = np.minimum(_position(near_a, near_b[:, 0], most),
                                            _position(near_b, near_a[:, 0], most)) + 1
        probed = np.concatenate([nearest_lists(codes[filed[at:at + 1024]], plan.centres,
                                               plan.probes) for at in range(0, len(filed), 1024)])
        sizes = np.bincount(probed[:, 0], minlength=nlist) * (n / len(filed))
        scan = n * float(sizes[probed].sum(axis=1).mean())
        need.sort()
        out.append([label, f"{nlist:,}", str(train), str(sample), str(plan.probes),
                    f"{plan.recall:.4f} of {plan.sampled_pairs:,}",
                    f"{float(np.mean(need <= plan.probes)):.4f}",
                    str(int(need[math.ceil(0.99 * len(need)) - 1])),
                    str(int(need[math.ceil(0.992 * len(need)) - 1])),
                    f"{planned:.1f}", f"{scan:.3g}", f"{n * nlist:.3g}"])
        log(f"  {out[-1]}")
    return [f"All {n:,} codes of {path} at cosine ≥ {threshold}; held out: the {len(a):,} "
            f"exact pairs of {len(rows):,} rows (seed 12345). Held-out recall: the share of "
            "those pairs whose rows meet within the plan's probes (what the scan finds); "
            "0.99 / 0.992 need: the probes those shares need. Scan and filing: the scores "
            "each costs (scan from 50,000 filed rows). CPU: process time of the plan "
            "(k-means and the sampled pairs).", "",
            table(["settings", "lists", "k-means rows a list", "sampled rows", "probes",
                   "plan's sampled recall", "held-out recall", "0.99 need", "0.992 need",
                   "plan CPU s", "scan scores", "filing scores"], out)]


_AGAINST = """
import json, sys, time
import numpy as np
from briefmin.nearpairs import ivf_pairs, ivf_plan
codes, norms = np.load(sys.argv[1]), np.load(sys.argv[2])
start = time.process_time()
plan = ivf_plan(codes, norms, float(sys.argv[4]))
planned = time.process_time() - start
found = ivf_pairs(codes, norms, float(sys.argv[4]), plan)
np.save(sys.argv[3], found.i * len(codes) + found.j)
lists = len(plan.centres) if hasattr(plan, "centres") else len(plan.centroids)  # older trees
print(json.dumps({"lists": lists, "probes": plan.probes, "recall": plan.recall,
                  "plan": planned, "search": time.process_time() - start - planned}))
"""


def _against_row(tree: Path, codes: Any, norms: Any, threshold: float,
                 recall: Callable[[Any], tuple[float, int]], exact_cpu: float) -> list[str]:
    """The planned IVF of the briefmin package in `tree`, on the same sample, in a child."""
    import json

    import numpy as np

    from briefmin.nearpairs import Pairs

    with tempfile.TemporaryDirectory(dir=OUT) as scratch:
        np.save(f"{scratch}/codes.npy", codes)
        np.save(f"{scratch}/norms.npy", norms)
        log(f"IVF of {tree}")
        done = run([sys.executable, "-c", _AGAINST, f"{scratch}/codes.npy",
                    f"{scratch}/norms.npy", f"{scratch}/found.npy", str(threshold)],
                   env={"PYTHONPATH": str(tree)},
                   cwd=tree)  # `python -c` puts its folder first: else this tree's briefmin
        got = json.loads(done.stdout.strip().splitlines()[-1])
        keys = np.load(f"{scratch}/found.npy")
    found = Pairs(keys // len(codes), keys % len(codes), np.zeros(len(keys), np.float32))
    share, extra = recall(found)
    return [f"numpy IVF of {tree} (planned), {got['lists']} lists, {got['probes']} probes",
            f"{len(keys):,}", f"{share:.4f}", str(extra), f"{got['recall']:.4f}",
            f"{got['search']:.1f} (+{got['plan']:.1f} plan)", f"{done.seconds:.1f}",
            f"{exact_cpu / (got['search'] + got['plan']):.1f}x"]


def _faiss_rows(codes: Any, norms: Any, threshold: float, plan: Any,
                recall: Callable[[Any], tuple[float, int]], exact_cpu: float,
                cpu: Callable[[Callable[[], Any]], tuple[Any, float, float]]) -> list[list[str]]:
    """faiss-cpu's IVFFlat and IVF-SQ8 `range_search` on the plan's own lists and probes."""
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return []
    import numpy as np

    from briefmin.nearpairs import Pairs, decoded, pair_cosines

    units = decoded(codes, norms)
    out = []
    for name, make in (("IndexIVFFlat", lambda q: faiss.IndexIVFFlat(
            q, units.shape[1], len(plan.centres), faiss.METRIC_INNER_PRODUCT)),
                       ("IndexIVFScalarQuantizer SQ8", lambda q: faiss.IndexIVFScalarQuantizer(
            q, units.shape[1], len(plan.centres), faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT))):
        def search(make: Callable[[Any], Any] = make) -> Pairs:
            quantizer = faiss.IndexFlatIP(units.shape[1])
            quantizer.add(plan.centres.units)
            index = make(quantizer)
            index.train(units[:len(plan.centres) * 32])  # lists fixed; SQ8 fits its ranges
            index.add(units)
            index.nprobe = plan.probes
            parts = []
            for start in range(0, len(units), 8192):
                # a margin under the threshold: SQ8 scores are approximate, confirmed below
                lims, _, labels = index.range_search(units[start:start + 8192],
                                                     threshold - 0.02)
                a = np.repeat(np.arange(start, start + min(8192, len(units) - start)),
                              np.diff(lims).astype(np.int64))
                b = labels.astype(np.int64)
                keep = a != b  # a pair either row's probes reach: from both sides, once
                key = np.unique(np.minimum(a, b)[keep] * len(units) + np.maximum(a, b)[keep])
                parts.append(key)
            key = np.unique(np.concatenate(parts))
            i, j = key // len(units), key % len(units)
            return Pairs(i, j, pair_cosines(codes, norms, i, j)).at_least(threshold)

        log(f"faiss {name}")
        found, seconds, wall = cpu(search)
        got, extra = recall(found)
        out.append([f"faiss {name}, same lists, {plan.probes} probes", f"{len(found):,}",
                    f"{got:.4f}", str(extra), "", f"{seconds:.1f}", f"{wall:.1f}",
                    f"{exact_cpu / seconds:.1f}x"])
        log(f"  {out[-1]}")
    return out


def _briefmin(cwd: Path, *args: str, devnull: bool = False, check: bool = True,
              limit: float | None = None) -> Run:
    result = _run_briefmin(cwd, args, devnull, check, limit)
    # logged as it goes, so a run stopped part-way still leaves its figures
    log(f"  briefmin {args[0]}: {result.seconds:,.2f} s, {result.peak_rss / 1e6:,.0f} MB, "
        f"exit {result.returncode}")
    return result


def _run_briefmin(cwd: Path, args: tuple[str, ...], devnull: bool, check: bool,
                  limit: float | None) -> Run:
    if not devnull:
        return run([*BRIEFMIN, *args], cwd=cwd, check=check)
    # stdout to /dev/null (a big JSON document need not be held), still with wait4's RSS
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*BRIEFMIN, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL)
        # a command far past its goal is stopped (exit -9), so the run still ends
        timer = threading.Timer(limit, proc.kill) if limit else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        if timer:
            timer.cancel()
        seconds = time.perf_counter() - start
        err.seek(0)
        result = Run(seconds, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(
            status), "", err.read().decode(errors="replace"))
    if check and result.returncode != 0:
        raise SystemExit(f"briefmin {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


def _search(cwd: Path, archive: Path, extra: list[str]) -> tuple[Run, Run]:
    """(median, slowest) of 5 cold searches."""
    log(f"search {' '.join(extra)} x5")
    runs = sorted((_briefmin(cwd, "search", str(archive), QUERY, "-k", "10", *extra)
                   for _ in range(5)), key=lambda r: r.seconds)
    return runs[2], runs[-1]


def _tar(root: Path, folders: list[str], out: Path) -> Run:
    result = run(["tar", "c", *folders, "|", "zstd", "-19", "-T1", "-q", "-o", str(out)],
                 cwd=root, shell=True)
    log(f"  {result.seconds:,.2f} s, {out.stat().st_size:,} bytes")
    return result


def _restore(root: Path, archive: Path, dest: Path, n: int) -> list[Run]:
    """1,000 random briefs by path, in chunks of arguments; checked byte for byte."""
    picked = sorted(random.Random(17).sample(range(n), min(RESTORE_N, n)))
    names = [f"d{i // PER_FOLDER:04d}/b{i:07d}.txt" for i in picked]
    log(f"restore of {len(names):,} random briefs")
    runs = [_briefmin(root, "restore", str(archive), *names[c:c + RESTORE_CHUNK],
                      "--to", str(dest), "-q") for c in range(0, len(names), RESTORE_CHUNK)]
    bad = [m for m in names if (dest / m).read_bytes() != (root / m).read_bytes()]
    if bad:
        raise SystemExit(f"restore differs for {len(bad)} briefs, e.g. {bad[0]}")
    return runs


def _met(ok: bool, goal: str) -> str:
    return f"{goal}: {'met' if ok else 'NOT met'}"


def _rss(result: Run) -> str:
    return f"{result.peak_rss / 1e6:,.0f} MB ({'met' if result.peak_rss < RSS_GOAL else 'NOT met'})"


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200].replace("`", "'") if lines else "(empty)"


if __name__ == "__main__":
    main()
