"""Cold start-up of the commands (issues 13, 14, 15): each command in a fresh process, this
code against an earlier one (`--before DIR`, e.g. `git archive lead | tar x -C DIR`) in the
same run, alternating, with the best and median wall and CPU time of each.

Commands: `--version`; `ls` and a cold `search` on a copy (in /tmp) of a 64k-brief Debian
archive (`--archive`; read-only, never written); `minify` of one ~2,000-word kernel doc. CPU is
user + system of the process and its children from wait4 (what /usr/bin/time reports). Both
trees run with their bytecode cached (bench/out/pycache*), as an installed tool does: this
machine's PYTHONDONTWRITEBYTECODE=1 would otherwise recompile them on every run. Restore has
its own script (bench_restore.py --before)."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import OUT, PYTHON, REPO, log, machine, parse_args, section, table, timed_cpu

SHARED_ARCHIVE = Path("/work/bench-shared/debian64k.bmin")
MINIFY_DOC = Path("linux-doc/networking/eql.rst")  # 2,026 words


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--reps", type=int, default=10, help="fresh processes of each"),
        p.add_argument("--archive", type=Path, default=SHARED_ARCHIVE,
                       help="the archive `ls` and `search` read (copied first)"),
        p.add_argument("--before", type=Path, default=None,
                       help="also time the briefmin package in this folder, same runs")))
    reps = 3 if args.quick else args.reps
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        archive = work / "a.bmin"
        query = (args.data / "debian-descriptions" / "queries.tsv").read_text(
            encoding="utf-8").splitlines()[0].split("\t")[0]
        doc = args.data / MINIFY_DOC
        commands = {"--version": ["--version"]}
        if args.archive.is_file():
            shutil.copyfile(args.archive, archive)  # the given file stays untouched
            commands["ls (64k archive)"] = ["ls", str(archive)]
            commands["search (64k archive, cold)"] = ["search", str(archive), query]
        else:
            log(f"no {args.archive} (build it with `briefmin add` of all the Debian "
                "descriptions): ls and search left out")
        words = len(doc.read_text(encoding="utf-8").split())
        commands[f"minify ({words:,}-word doc)"] = ["minify", str(doc)]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        trees: dict[str, tuple[dict[str, str], Path]] = {
            "after": ({**env, "PYTHONPYCACHEPREFIX": str(OUT / "pycache")}, REPO)}
        if args.before:
            before = args.before.resolve()
            # run from that folder: `python -m` puts the working folder first on sys.path
            trees["before"] = ({**env, "PYTHONPATH": str(before),
                                "PYTHONPYCACHEPREFIX": str(OUT / "pycache-before")}, before)
        for tree_env, cwd in trees.values():  # writes the bytecode caches (and the ONNX file)
            for cmd in commands.values():
                timed_cpu([PYTHON, "-m", "briefmin", *cmd], tree_env, cwd)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for rep in range(reps):
            for name, cmd in commands.items():
                for tree, (tree_env, cwd) in trees.items():  # alternating, same conditions
                    times.setdefault((name, tree), []).append(
                        timed_cpu([PYTHON, "-m", "briefmin", *cmd], tree_env, cwd))
            log(f"rep {rep} done")
        rows = []
        for name in commands:
            base = times.get((name, "before"))
            for tree in trees:
                got = times[(name, tree)]
                wall = statistics.median(w for w, _ in got)
                cpu = statistics.median(c for _, c in got)
                vs = (f"{cpu / statistics.median(c for _, c in base):.2f}x"
                      if base and tree == "after" else "")
                rows.append([f"`briefmin {name}`", tree,
                             min(w for w, _ in got), wall, min(c for _, c in got), cpu, vs])
        print(section("Cold start-up of the commands (fresh processes, bytecode cached)", [
            machine(),
            table(["command", "code", "best wall s", "median wall s", "best CPU s",
                   "median CPU s", "median CPU after/before"], rows),
            f"{reps} fresh processes of each, the two trees alternating; output to /dev/null. "
            f"Search query: `{query}`. Load average at the end: {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores."]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
