"""`briefmin add --ray` beside the single-process `add`, on the same briefs, in the same run.

Both are timed end to end as processes (walk, hash, model load, encode, store); `--ray` also
starts a local Ray cluster (2 CPUs here) and one model per actor. The two runs alternate,
`--reps` times each, on fresh archives, and the medians are reported, because the machine is
shared. The per-actor rate comes from an extra `--ray --ray-actors 1` run on a quarter of the
sample: one actor, the driver on the other core; its steady state (start-up left out) is the
rate one more CPU (or machine) would add.

Full size: `.venv/bin/python bench/bench_ray.py` (5,000 Debian descriptions, 3 reps each)."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from common import (
    BRIEFMIN,
    Run,
    ensure_corpora,
    log,
    parse_args,
    ratio,
    run,
    sample,
    scratch,
    section,
    stage,
    table,
    text_files,
)

GOAL = 0.85  # --ray's briefs/s as a share of the single-process add's, same machine


def add(archive: Path, folder: Path, *extra: str) -> Run:
    result = run([*BRIEFMIN, "add", str(archive), folder.name, "-q", "--json", *extra],
                 cwd=folder.parent)
    added = len(json.loads(result.stdout)["added"])
    if added != len(text_files(folder)):
        raise SystemExit(f"add {' '.join(extra)} added {added} briefs of "
                         f"{len(text_files(folder))}")
    return result


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--n", type=int, help="briefs (default 5000, quick 1000)"),
        p.add_argument("--reps", type=int, help="runs of each (default 3, quick 1)")))
    ensure_corpora(args.data)
    docs = args.data / "debian-descriptions" / "docs"
    n = args.n or (1000 if args.quick else 5000)
    reps = args.reps or (1 if args.quick else 3)
    work = scratch("ray")
    folder = stage(sample(text_files(docs), n), docs, work / "docs")
    one = stage(sample(text_files(docs), 1), docs, work / "one" / "docs")
    quarter = stage(sample(text_files(docs), n // 4), docs, work / "quarter" / "docs")

    local: list[float] = []
    remote: list[float] = []
    rss_local: list[int] = []
    rss_remote: list[int] = []
    for rep in range(reps):
        for name, times, rss, extra in (("add", local, rss_local, ()),
                                        ("add --ray", remote, rss_remote, ("--ray",))):
            log(f"rep {rep + 1}/{reps}: {name} of {n} briefs")
            result = add(work / f"{name.replace(' ', '')}-{rep}.bmin", folder, *extra)
            times.append(result.seconds)
            rss.append(result.peak_rss)
            log(f"  {result.seconds:.1f} s, {n / result.seconds:.1f} briefs/s")
    log("start-up: add --ray of one brief (Ray start, actors, model loads)")
    start_up = add(work / "one.bmin", one, "--ray").seconds
    log(f"add --ray --ray-actors 1 of {n // 4} briefs (the per-actor rate)")
    single = add(work / "single.bmin", quarter, "--ray", "--ray-actors", "1").seconds

    log(f"add --model hashing:384 of {n} briefs (the one writer's ceiling: no model)")
    writer = add(work / "writer.bmin", folder, "--model", "hashing:384").seconds

    t_local, t_remote = statistics.median(local), statistics.median(remote)
    per_actor = (n // 4 - 1) / max(1e-9, single - start_up)
    rows = [
        ["add (one process)", f"{t_local:.1f} s", f"{n / t_local:.1f}",
         " / ".join(f"{t:.0f}" for t in local), f"{statistics.median(rss_local) / 1e6:,.0f} MB",
         "1.00x"],
        ["add --ray (local cluster, 2 actors)", f"{t_remote:.1f} s", f"{n / t_remote:.1f}",
         " / ".join(f"{t:.0f}" for t in remote),
         f"{statistics.median(rss_remote) / 1e6:,.0f} MB (driver)", ratio(t_local, t_remote)],
        [f"add --ray --ray-actors 1 ({n // 4:,} briefs)", f"{single:.1f} s",
         f"{n // 4 / single:.1f}", "", "", ratio(n // 4 / single, n / t_local)],
        ["add --ray of 1 brief (start-up)", f"{start_up:.1f} s", "", "", "", ""],
        ["add --model hashing:384 (storage path alone)", f"{writer:.1f} s",
         f"{n / writer:.1f}", "", "", ratio(t_local, writer)],
    ]
    body = [
        f"{n:,} Debian descriptions sampled at random, fresh archives, the real model; "
        f"`add` and `add --ray` alternate, {reps} run(s) each, medians. Goal: `--ray` ≥ "
        f"{GOAL}x the single-process briefs/s on this 2-core machine.",
        table(["run", "median wall", "briefs/s", "each run (s)", "peak RSS", "vs add"], rows),
        f"Per-actor steady rate (one actor, start-up left out): **{per_actor:.1f} briefs/s**. "
        f"N actors on N free CPUs (or machines) add about N x that, until the one writer "
        f"(walk, hash, zstd, SQLite: the storage path alone runs at {n / writer:.0f} briefs/s "
        f"here) becomes the limit.",
    ]
    print(section("Encoding on Ray (`add --ray`)", body))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
