"""Snapshot benchmark (issue 16): what a nightly cron `add` costs once snapshots are recorded,
what `forget --prune` reclaims, and whether `forget` decides what restic decides.

- the Debian descriptions (64,5k briefs; --quick: 5,000) archived with the `hashing:384`
  encoder (storage only); an unchanged re-add with the snapshot (today's `add`) against the
  same re-add without one (the add before snapshots), alternated in one process;
- the archive's growth over 365 unchanged nightly snapshots: a few complete unchanged adds,
  then the rest recorded directly (the snapshot row is the only thing an unchanged add
  writes: the full adds show it), against the archive's size;
- prune: 30 nights of churn (2% of a 5,000-brief sample edited, 0.5% deleted, 1% new each
  night), then `forget --keep-daily 7 --keep-weekly 4 --prune`: bytes before and after;
- the policy decisions beside restic's (`restic backup --time` of the same nights into a
  scratch repository, then `restic forget --dry-run --json` with the same flags), when the
  `restic` command exists.

    .venv/bin/python bench/bench_snapshots.py [--quick] [--data bench/data]
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, ensure_corpora, log, parse_args, ratio, section, table
from briefmin import Archive
from briefmin.history import plan_forget
from briefmin.ingest import SnapshotSpec, add
from briefmin.retention import Policy
from briefmin.sources import iter_sources
from briefmin.store import Snapshot

HASHING = "hashing:384"
NIGHTS = 365
FULL_ADDS = 5  # complete unchanged adds among the 365 nights (each ~3 s at 64k)
FIRST = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
CHURN_BRIEFS = 5_000
CHURN_NIGHTS = 30
POLICIES = [["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "3"],
            ["--keep-last", "5", "--keep-weekly", "2"],
            ["--keep-within", "10d", "--keep-monthly", "-1"],
            ["--keep-hourly", "30", "--keep-yearly", "2"]]


def _spec(night: int, roots: tuple[str, ...]) -> SnapshotSpec:
    return SnapshotSpec(FIRST + timedelta(days=night), "bench", roots)


def _timed_add(archive: Path, folder: Path, spec: SnapshotSpec | None) -> float:
    start = time.perf_counter()
    with Archive.open(archive, write=True) as arch:
        add(arch, iter_sources([str(folder)]), snapshot=spec)
    return time.perf_counter() - start


def overhead(docs: Path, n: int, scratch: Path) -> list[str]:
    folder = docs
    if n < sum(1 for _ in docs.iterdir()):
        folder = scratch / "sample"
        folder.mkdir()
        for path in sorted(docs.iterdir())[:n]:
            os.link(path, folder / path.name) if _same_fs(path, folder) else \
                shutil.copyfile(path, folder / path.name)
    archive = scratch / "nightly.bmin"
    roots = (str(folder),)
    log(f"first add of {n:,} briefs (hashing encoder)")
    start = time.perf_counter()
    with Archive.open(archive, write=True, create=True, model=HASHING) as arch:
        add(arch, iter_sources([str(folder)]), snapshot=None)
    first_add = time.perf_counter() - start
    no_snapshot = archive.stat().st_size
    log("unchanged re-adds, with and without the snapshot, alternated")
    with_s, without_s = [], []
    for night in range(3):
        without_s.append(_timed_add(archive, folder, None))
        with_s.append(_timed_add(archive, folder, _spec(night, roots)))
    first_snapshot_size = archive.stat().st_size
    log(f"{NIGHTS} unchanged nights")
    for night in range(3, 3 + FULL_ADDS):
        _timed_add(archive, folder, _spec(night, roots))
    after_full = archive.stat().st_size
    with Archive.open(archive, write=True) as arch:
        names = [r.path for r in arch.records()]
        start = time.perf_counter()
        for night in range(3 + FULL_ADDS, NIGHTS + 1):
            arch.record_snapshot(names, time=_spec(night, roots).time, host="bench",
                                 roots=roots, tags=())
        record_each = (time.perf_counter() - start) / (NIGHTS + 1 - 3 - FULL_ADDS)
        count = len(arch.snapshots())
    final = archive.stat().st_size
    base = first_snapshot_size
    return [table(["measure", "value", "against", "ratio"], [
        [f"first add, {n:,} briefs (hashing:384, no snapshot)", f"{first_add:.1f} s", "", ""],
        ["archive size without snapshots", f"{no_snapshot:,} B", "", ""],
        ["unchanged re-add with its snapshot (median of 3)",
         f"{statistics.median(with_s):.2f} s",
         f"{statistics.median(without_s):.2f} s without",
         ratio(statistics.median(with_s), statistics.median(without_s))],
        ["first snapshots' cost (their spans)", f"{base - no_snapshot:,} B",
         f"{no_snapshot:,} B archive", ratio(base - no_snapshot, no_snapshot)],
        [f"growth over {FULL_ADDS} complete unchanged adds", f"{after_full - base:,} B", "",
         ""],
        [f"growth over {count - 3} more unchanged snapshots ({count} in all)",
         f"{final - base:,} B", f"{base:,} B archive", ratio(final - base, base)],
        ["recording one unchanged snapshot", f"{record_each * 1000:.0f} ms", "", ""],
    ])]


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def churn(docs: Path, scratch: Path, n: int) -> tuple[Path, list[datetime], list[str]]:
    """CHURN_NIGHTS nights of edits, deletions and additions over n briefs; the archive."""
    rng = random.Random(16)
    pool = sorted(docs.iterdir())
    folder = scratch / "churn"
    folder.mkdir()
    live = pool[:n]
    spare = pool[n:]
    for p in live:
        shutil.copyfile(p, folder / p.name)
    archive = scratch / "churn.bmin"
    times = []
    roots = (str(folder),)
    for night in range(CHURN_NIGHTS):
        if night:
            names = sorted(os.listdir(folder))
            for name in rng.sample(names, len(names) // 50):
                with open(folder / name, "a") as fh:
                    fh.write(f"\nEdited on night {night}.\n")
            for name in rng.sample(names, len(names) // 200):
                (folder / name).unlink()
            for _ in range(len(names) // 100):
                if spare:
                    p = spare.pop()
                    shutil.copyfile(p, folder / p.name)
        spec = _spec(night, roots)
        times.append(spec.time)
        with Archive.open(archive, write=True, create=True, model=HASHING) as arch:
            add(arch, iter_sources([str(folder)]), snapshot=spec)
    return archive, times, sorted(os.listdir(folder))


def prune_reclaim(archive: Path) -> list[str]:
    from bench.common import BRIEFMIN

    before = archive.stat().st_size
    start = time.perf_counter()
    done = subprocess.run([*BRIEFMIN, "forget", str(archive), "--keep-daily", "7",
                           "--keep-weekly", "4", "--prune", "--json"], capture_output=True,
                          text=True, check=True)
    seconds = time.perf_counter() - start
    report = json.loads(done.stdout)
    verify = subprocess.run([*BRIEFMIN, "verify", str(archive)], capture_output=True, check=False)
    return [table(["forget --keep-daily 7 --keep-weekly 4 --prune", "value"], [
        ["snapshots kept / forgotten", f"{len(report['keep'])} / {len(report['remove'])}"],
        ["brief versions pruned", report["prune"]["versions"]],
        ["archive before", f"{before:,} B"],
        ["archive after",
         f"{archive.stat().st_size:,} B ({ratio(archive.stat().st_size, before)})"],
        ["time (process start to exit)", f"{seconds:.2f} s"],
        ["verify afterwards", "ok" if verify.returncode == 0 else "FAILED"],
    ])]


def against_restic(times: list[datetime], scratch: Path) -> list[str]:
    if shutil.which("restic") is None:
        return ["restic is not installed here: the policy comparison was skipped."]
    repo = scratch / "restic-repo"
    env = {**os.environ, "RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(repo)}
    subprocess.run(["restic", "init", "-q"], env=env, check=True, capture_output=True)
    data = scratch / "restic-data"
    data.mkdir()
    (data / "x.txt").write_text("x")
    version = subprocess.run(["restic", "version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    log(f"restic backup --time x {len(times)}")
    for moment in times:
        subprocess.run(["restic", "backup", "-q", "--host", "bench", "--time",
                        moment.strftime("%Y-%m-%d %H:%M:%S"), str(data)], env=env, check=True,
                       capture_output=True)
    rows = []
    for flags in POLICIES:
        out = subprocess.run(["restic", "forget", "--dry-run", "--json", *flags], env=env,
                             check=True, capture_output=True, text=True).stdout
        groups = json.loads(out)
        theirs = sorted(datetime.fromisoformat(s["time"].replace("Z", "+00:00"))
                        .astimezone(UTC) for g in groups for s in g["keep"])
        policy = _policy(flags)
        ours = sorted(d.item.time for d in plan_forget(
            [Snapshot(i, t, "bench", ("d",), (), 1, 0, 0, 0, 0, 0)
             for i, t in enumerate(times, 1)], policy) if d.keep)
        def days(moments: set[datetime]) -> str:
            return ", ".join(m.date().isoformat() for m in sorted(moments)) or "none"

        rows.append([" ".join(flags), len(ours), len(theirs),
                     "same" if ours == theirs else
                     f"briefmin only: {days(set(ours) - set(theirs))}; restic only: "
                     f"{days(set(theirs) - set(ours))}"])
    return [f"restic {version} (Debian's), {len(times)} snapshots at the churn nights' times. "
            "restic 0.16.0 added a rule that briefmin follows (ported from restic's current "
            "source, checked against its golden files in tests/test_retention.py): a rule "
            "with room left also keeps the oldest snapshot; older restic does not, which "
            "is every difference below.",
            table(["policy", "briefmin keeps", "restic keeps", "decisions"], rows)]


def _policy(flags: list[str]) -> Policy:
    from briefmin.retention import Duration

    values = dict(zip(flags[::2], flags[1::2], strict=True))
    counts = {name: int(values.get(f"--keep-{name}", 0)) for name in
              ("last", "hourly", "daily", "weekly", "monthly", "yearly")}
    within = Duration.parse(values["--keep-within"]) if "--keep-within" in values else Duration()
    return Policy(**counts, within=within)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ensure_corpora(args.data)
    docs = args.data / "debian-descriptions" / "docs"
    n = 5_000 if args.quick else sum(1 for _ in docs.iterdir())
    OUT.mkdir(exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=OUT) as scratch_dir:
        scratch = Path(scratch_dir)
        body = overhead(docs, n, scratch)
        log("churn nights")
        archive, times, _ = churn(docs, scratch, 1_000 if args.quick else CHURN_BRIEFS)
        body += prune_reclaim(archive)
        body += against_restic(times, scratch)
    body.append(f"_bench_snapshots.py: {time.perf_counter() - started:.0f} s_")
    print(section(f"Snapshots: nightly overhead, prune, restic's policy ({n:,} briefs)", body))


if __name__ == "__main__":
    main()
