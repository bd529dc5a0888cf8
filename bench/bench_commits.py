"""What grows with the archive in `add`: CPU per 10,000 briefs and the cost of each COMMIT as
the archive grows, for SQLite's rollback journal (briefmin's) against WAL, and 64 briefs per
commit (briefmin's) against 512, in the same run.

Synthetic briefs as bench_million.py makes them, the hashing encoder (storage path only),
in-process `briefmin.add` on /dev/shm; the configurations run as parallel processes so the
machine's load falls on all of them alike. Each row: CPU seconds of the process for that
window of 10,000 briefs, and the mean wall and CPU of its COMMIT statements."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ensure_corpora, log, machine, parse_args, section, table

CONFIGS = [("delete", 64), ("wal", 64), ("delete", 512), ("wal", 512)]
WINDOW = 10_000


def one(mode: str, per: int, n: int, docs: Path, path: Path) -> dict[str, Any]:
    """In this process: add n briefs with this journal mode and commit size."""
    import bench_million

    from briefmin import Archive, Source, add, ingest
    from briefmin.store import connection

    ingest.BATCH_BRIEFS = per
    bases = [p.read_text(errors="replace").strip() for p in sorted(docs.iterdir())]
    commits: list[tuple[int, float, float]] = []
    done = [0]
    real_execute = connection.Connection.execute

    def execute(self: connection.Connection, sql: str, params: Any = ()) -> Any:
        if sql != "COMMIT":
            return real_execute(self, sql, params)
        wall, cpu = time.perf_counter(), time.process_time()
        out = real_execute(self, sql, params)
        commits.append((done[0], time.perf_counter() - wall, time.process_time() - cpu))
        return out

    connection.Connection.execute = execute  # type: ignore[method-assign]

    def sources() -> Iterator[Source]:
        for i in range(n):
            done[0] = i
            yield Source(f"d{i // 1000:04d}/b{i:07d}.txt", None,
                         bench_million.brief_text(bases, i).encode())

    marks = [time.process_time()]

    def progress(_: int) -> None:
        if (done[0] + 1) % WINDOW == 0:
            marks.append(time.process_time())

    with Archive.open(path, write=True, create=True, model="hashing:384") as archive:
        archive.set_journal_mode(mode)
        add(archive, sources(), progress=progress)
    windows = []
    for k in range(n // WINDOW):
        inside = [c for c in commits if k * WINDOW <= c[0] < (k + 1) * WINDOW]
        windows.append([k * WINDOW, marks[k + 1] - marks[k], len(inside),
                        sum(c[1] for c in inside) / max(1, len(inside)),
                        sum(c[2] for c in inside) / max(1, len(inside))])
    return {"mode": mode, "per": per, "windows": windows}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        mode, per, n, docs, path = sys.argv[2:7]
        print(json.dumps(one(mode, int(per), int(n), Path(docs), Path(path))))
        return
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument(
        "--n", type=int, default=40_000, help="briefs per configuration"))
    n = 10_000 if args.quick else args.n
    ensure_corpora(args.data)
    docs = args.data / "debian-descriptions" / "docs"
    work = Path(tempfile.mkdtemp(prefix="bench-commits-", dir="/dev/shm"))
    log(f"{len(CONFIGS)} configurations x {n:,} briefs in {work}")
    procs = [subprocess.Popen([sys.executable, __file__, "--one", mode, str(per), str(n),
                               str(docs), str(work / f"{mode}-{per}.bmin")],
                              stdout=subprocess.PIPE, text=True) for mode, per in CONFIGS]
    try:
        results = [json.loads(p.communicate()[0]) for p in procs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for r in results:
        for lo, cpu, count, wall_c, cpu_c in r["windows"]:
            rows.append([f"{r['mode']}, {r['per']} per commit", f"{lo:,}..{lo + WINDOW:,}",
                         f"{cpu:.2f}", f"{WINDOW / cpu:,.0f}", count, f"{wall_c * 1000:.1f}",
                         f"{cpu_c * 1000:.2f}"])
    print(section(f"add: journal mode and commit size as the archive grows ({n:,} briefs)", [
        machine(),
        table(["configuration", "briefs", "CPU s", "briefs per CPU s", "commits",
               "COMMIT wall ms", "COMMIT CPU ms"], rows)]))


if __name__ == "__main__":
    main()
