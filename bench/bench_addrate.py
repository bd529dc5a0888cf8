"""The `add` storage path's rate (issue 15): CPU per brief of `briefmin add --model hashing:384`
for the first 10,000 briefs (a fresh process, fresh archive) and for the next ones (10k..N, a
second process on the same archive), this checkout's code beside another's (by default
`main`'s, unpacked with `git archive main briefmin`) in the same run, alternating.

The briefs are bench_million.py's synthetic ones (`make_briefs`), made once in --briefs.
CPU = user + system of the process (wait4), the figure that survives a loaded machine;
wall is reported too. `--profile` writes a cProfile of this checkout's first 10k instead;
`--phases` the main thread's CPU by phase of each code's first 10k (addrate_phases.py: cheap
wrappers where cProfile's overhead inflates small calls), the worker thread's, the wall, and
the wall a model of two idle cores gives (the machine is shared: its wall says little).

    .venv/bin/python bench/bench_addrate.py --quick              # first 10k, 2 rounds
    .venv/bin/python bench/bench_addrate.py --n 100000           # and 10k..100k
    .venv/bin/python bench/bench_addrate.py --n 1000000 --baseline none --rounds 1
    .venv/bin/python bench/bench_addrate.py --profile            # cProfile, first 10k
    .venv/bin/python bench/bench_addrate.py --phases --rounds 3  # CPU by phase, each code
    .venv/bin/python bench/bench_addrate.py --zstd-options       # levels and parameters

`--zstd-options` compresses the solid blocks `add` would write (64 briefs, at most 1 MiB each,
with a dictionary trained as `add` trains it) of the first 10k synthetic briefs and of the
kernel docs with zstd levels and parameters other than briefmin's (level 19), in-process:
bytes and CPU (best of 3, interleaved).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench_million import PER_FOLDER, make_briefs
from common import (
    PYTHON,
    REPO,
    ensure_corpora,
    log,
    parse_args,
    section,
    table,
    text_files,
    timed_cpu,
)

FIRST = 10_000  # the first step: a fresh archive, start-up included


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra_args)
    n = args.n or (FIRST if args.quick else 100_000)
    ensure_corpora(args.data)
    briefs = args.briefs
    if not (briefs / "made").exists() or \
            int((briefs / "made").read_text()) < n:
        shutil.rmtree(briefs, ignore_errors=True)
        log(f"making {n:,} briefs in {briefs}")
        make_briefs(args.data / "debian-descriptions" / "docs", briefs, n)
        (briefs / "made").write_text(str(n))
    folders = sorted(p.name for p in briefs.iterdir() if p.is_dir())[:n // PER_FOLDER]
    work = Path(tempfile.mkdtemp(prefix="addrate-", dir=args.briefs.parent))
    try:
        if args.profile:
            print(_profile(briefs, folders[:FIRST // PER_FOLDER], work))
            return
        if args.zstd_options:
            print(section("add rate: zstd options for the solid blocks",
                          _zstd_options(briefs, folders[:FIRST // PER_FOLDER],
                                        args.data / "linux-doc")))
            return
        # --code: a commit instead of the working tree, which may then change during the run
        codes = {args.code: _unpack(args.code, work / "code")} if args.code else \
            {"this checkout": REPO}
        if args.baseline != "none":
            codes[args.baseline] = _unpack(args.baseline, work / "baseline")
        if args.phases:
            print(section("add rate: the main thread's CPU by phase, first 10k",
                          _phases(codes, briefs, folders[:FIRST // PER_FOLDER], work,
                                  args.rounds)))
            return
        print(section("add rate (hashing:384)", _measure(codes, briefs, folders, work,
                                                          args.rounds)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _extra_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=None,
                        help="briefs in all (default 100k; --quick: only the first 10k)")
    parser.add_argument("--briefs", type=Path, default=Path("/dev/shm/addrate/briefs"),
                        help="where the synthetic briefs are made (once) and read from")
    parser.add_argument("--baseline", default="main",
                        help="git revision to compare with ('none': this checkout alone)")
    parser.add_argument("--code", default=None,
                        help="git revision to measure instead of the working tree")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile this checkout's first 10k instead")
    parser.add_argument("--phases", action="store_true",
                        help="the main thread's CPU by phase of the first 10k instead, each "
                             "code (addrate_phases.py; cProfile's overhead skews small calls)")
    parser.add_argument("--zstd-options", action="store_true",
                        help="compare zstd levels and parameters on add's blocks instead")


def _unpack(revision: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision, "briefmin"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "x", "-C", str(dest)], input=archive, check=True)
    return dest


# `python -m briefmin`, printing the main thread's CPU seconds at exit to a file: with the
# blocks compressed in a worker thread, that is the critical path, the wall time a second idle
# core would leave (this machine's cores are shared, so its wall time says little)
_RUN = ("import atexit, runpy, sys, time\n"
        "out = sys.argv.pop(1)\n"
        "atexit.register(lambda: open(out, 'w').write(str(time.thread_time())))\n"
        "sys.argv[0] = 'briefmin'\n"
        "runpy.run_module('briefmin', run_name='__main__')\n")


def _add(code: Path, briefs: Path, archive: Path, folders: list[str]
         ) -> tuple[float, float, float]:
    """(CPU s of the process, CPU s of its main thread, wall s) of one add."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    main_cpu = archive.with_suffix(".main-cpu")
    wall, cpu = timed_cpu([PYTHON, "-c", _RUN, str(main_cpu), "add", str(archive), *folders,
                           "--model", "hashing:384", "-q"], env=env, cwd=briefs)
    return cpu, float(main_cpu.read_text()), wall


def _measure(codes: dict[str, Path], briefs: Path, folders: list[str], work: Path,
             rounds: int) -> list[str]:
    # steps at 10k and 100k as bench_million.py's, then the rest
    bounds = [b for b in (FIRST, 100_000) if b < len(folders) * PER_FOLDER]
    bounds = [0, *bounds, len(folders) * PER_FOLDER]
    chunks = [(f"{a:,}..{b:,}", folders[a // PER_FOLDER:b // PER_FOLDER])
              for a, b in itertools.pairwise(bounds)]
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    loads: dict[tuple[str, str], list[float]] = {}
    prints: dict[str, str] = {}
    for r in range(rounds):
        for name, code in codes.items():
            archive = work / f"{r}-{name.replace(' ', '_')}.bmin"
            # bytecode compiled before the timed run, as an installed package has it
            subprocess.run([PYTHON, "-m", "compileall", "-q", str(code / "briefmin")],
                           check=True)
            for label, chunk in chunks:
                cpu, main_cpu, wall = _add(code, briefs, archive, chunk)
                load = os.getloadavg()[0]  # the machine is shared: say how busy it was
                log(f"round {r + 1} {name} {label}: CPU {cpu:.2f} s (main thread "
                    f"{main_cpu:.2f} s), wall {wall:.2f} s, load {load:.1f}")
                results.setdefault((label, name), []).append((cpu, main_cpu, wall))
                loads.setdefault((label, name), []).append(load)
            size = archive.stat().st_size
            results.setdefault(("bytes", name), []).append((size, 0.0, 0.0))
            if r == 0:
                prints[name] = _fingerprint(archive)
            archive.unlink()
    rows = []
    for (label, name), runs in results.items():
        if label == "bytes":
            continue
        start, stop = (int(x.replace(",", "")) for x in label.split(".."))
        count = stop - start
        cpus = [c for c, _, _ in runs]
        mains = [m for _, m, _ in runs]
        rows.append((label, name, ", ".join(f"{c:.2f}" for c in cpus),
                     f"{count * len(cpus) / sum(cpus):,.0f}",
                     ", ".join(f"{m:.2f}" for m in mains),
                     f"{count * len(mains) / sum(mains):,.0f}",
                     ", ".join(f"{w:.1f}" for _, _, w in runs),
                     ", ".join(f"{x:.1f}" for x in loads[(label, name)])))
    sizes = [f"{name}: {runs[0][0]:,.0f} bytes" for (label, name), runs in results.items()
             if label == "bytes"]
    same = ("the same" if len(set(prints.values())) == 1 else "NOT the same")
    return [table(("briefs", "code", "CPU s per run", "briefs per CPU s (mean)",
                   "main thread CPU s", "briefs per main-thread CPU s (mean)",
                   "wall s per run", "load average (1 min) per run"), rows),
            "", f"Archive after all {len(folders) * PER_FOLDER:,} briefs: " + "; ".join(sizes)
            + f". Records (path, version, sha256, size, stored size, encoding), every block's "
            f"frame, every dictionary and every vector row (content, kind, span, binary and "
            f"int8 codes) are {same} "
            f"({', '.join(f'{n}: {d}' for n, d in prints.items())})."]


def _fingerprint(path: Path) -> str:
    """A digest of what an archive holds beyond its times: the records, the stored bytes
    (frames, dictionaries) and every vector row, so two codes' archives can be told equal
    though their add times differ."""
    import hashlib

    import numpy as np

    from briefmin import Archive
    from briefmin.store.segments import BRIEF_KINDS, SEARCH_KINDS

    digest = hashlib.blake2b(digest_size=8)
    with Archive.open(path) as archive:
        for r in archive.records(all_versions=True):
            digest.update(repr((r.path, r.version, r.sha256, r.size, r.stored_size,
                                r.encoding)).encode())
        # the stored bytes: every block's frame and every dictionary (read, not written,
        # through the store's reader: bench has no SQL of its own)
        blocks = archive._blocks
        count = blocks.totals()["blocks"]
        frames = blocks.frames(range(1, count + 1))
        assert len(frames) == count, "block ids are not 1..N"
        for block_id, (dict_id, size, frame) in sorted(frames.items()):
            digest.update(repr((block_id, dict_id, size)).encode() + bytes(frame))
        for dict_id, dictionary in sorted(blocks.dictionaries().items()):
            digest.update(repr(dict_id).encode() + dictionary)
        kinds = tuple(sorted({*BRIEF_KINDS, *SEARCH_KINDS}))
        vectors = archive.vectors(kinds)
        for column in (vectors.content_ids, vectors.kinds, vectors.spans, vectors.bits,
                       archive.all_int8(kinds), np.float64(vectors.int8_step)):
            digest.update(np.ascontiguousarray(column).tobytes())
    return digest.hexdigest()


def _phases(codes: dict[str, Path], briefs: Path, folders: list[str], work: Path,
            rounds: int) -> list[str]:
    """Each code's first 10k under addrate_phases.py, alternating: mean main-thread CPU s
    per phase, each code beside the first."""
    import json
    import statistics

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
    for r in range(rounds):
        for name, code in codes.items():
            subprocess.run([PYTHON, "-m", "compileall", "-q", str(code / "briefmin")],
                           check=True)
            archive, out = work / f"phases-{r}.bmin", work / "phases.json"
            subprocess.run([PYTHON, str(Path(__file__).with_name("addrate_phases.py")),
                            str(out), "add", str(archive), *folders, "--model", "hashing:384",
                            "-q"], env={**os.environ, "PYTHONPATH": str(code)}, cwd=briefs,
                           check=True)
            found = json.loads(out.read_text())
            runs[name].append({"main thread, all": found["total"], **found["phases"],
                               WORKER_ALL: sum(found["worker"].values()),
                               **{f"worker: {k}": v for k, v in found["worker"].items()},
                               WALL: found["wall"], IDLE: found["idle_wall"]})
            log(f"round {r + 1} {name} (load {os.getloadavg()[0]:.1f}): main thread "
                f"{found['total']:.2f} s, worker "
                f"{runs[name][-1][WORKER_ALL]:.2f} s, wall {found['wall']:.2f} s, two idle "
                f"cores (model) {found['idle_wall']:.2f} s")
            archive.unlink()
    first, *others = codes
    # the main thread's phases by size, then the worker thread's, then the walls
    phases = sorted({p for found in runs.values() for one in found for p in one},
                    key=lambda p: (p in (WALL, IDLE), p.startswith("worker"),
                                   -statistics.mean(one.get(p, 0.0) for one in runs[first])))

    def mean(name: str, phase: str) -> float:
        return statistics.mean(one.get(phase, 0.0) for one in runs[name])

    rows = [(phase, *(f"{mean(name, phase):.3f}" for name in codes),
             *(f"{mean(first, phase) / mean(other, phase):.2f}x" if mean(other, phase)
               else "" for other in others)) for phase in phases]
    return [table(("phase", *(f"{name} (s)" for name in codes),
                   *(f"{first} / {other}" for other in others)), rows)]


WORKER_ALL = "worker thread, all"
WALL = "wall (measured, this machine's load)"
IDLE = "wall on two idle cores (model: addrate_phases.idle_wall)"


def _profile(briefs: Path, folders: list[str], work: Path) -> str:
    out = work / "add.prof"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # timed by the main thread's CPU clock: waits (for a core, for the zstd worker) left out
    script = ("import cProfile, runpy, sys, time\n"
              "out = sys.argv.pop(1)\n"
              "sys.argv[0] = 'briefmin'\n"
              "profile = cProfile.Profile(time.thread_time)\n"
              "try:\n"
              "    profile.runcall(runpy.run_module, 'briefmin', run_name='__main__')\n"
              "except SystemExit:\n"
              "    pass\n"
              "profile.dump_stats(out)\n")
    subprocess.run([PYTHON, "-c", script, str(out), "add", str(work / "p.bmin"), *folders,
                    "--model", "hashing:384", "-q"], env=env, cwd=briefs, check=True)
    import io
    import pstats

    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(45)
    return text.getvalue()


def _zstd_options(briefs: Path, folders: list[str], kernel: Path) -> list[str]:
    corpora = {"first 10k synthetic briefs": [p for f in folders
                                               for p in sorted((briefs / f).iterdir())],
               "Linux kernel docs": text_files(kernel)}
    out = []
    for name, files in corpora.items():
        out += _zstd_arms(name, [p.read_bytes() for p in files])
    return out


def _zstd_arms(name: str, datas: list[bytes]) -> list[str]:
    import time

    import zstandard

    from briefmin import codec
    from briefmin.store import blocks

    bodies = _blocks_of(datas)
    samples: list[bytes] = []  # as add trains: once 32 briefs and 192 KiB exist
    for data in datas:
        if len(samples) >= codec.DICT_MIN_SAMPLES and \
                sum(map(len, samples)) >= blocks.DICT_TRIGGER_BYTES:
            break
        samples.append(data)
    trained = codec.train_dictionary(samples)
    assert trained is not None
    dictionary = zstandard.ZstdCompressionDict(trained)
    block = max(map(len, bodies))

    def params(**kw: int) -> zstandard.ZstdCompressor:
        p = zstandard.ZstdCompressionParameters.from_level(
            19, source_size=block, dict_size=len(trained), write_checksum=0, **kw)
        return zstandard.ZstdCompressor(compression_params=p, dict_data=dictionary)

    arms = {f"level {n}": zstandard.ZstdCompressor(level=n, dict_data=dictionary,
                                                   write_checksum=False)
            for n in (19, 18, 17, 16, 15, 13)}
    arms |= {"level 19, btultra (not btultra2)": params(strategy=zstandard.STRATEGY_BTULTRA),
             "level 19, target length 64": params(target_length=64),
             "level 19, search log 3": params(search_log=3),
             "level 19, btopt": params(strategy=zstandard.STRATEGY_BTOPT)}
    best: dict[str, tuple[float, int]] = {}
    for _ in range(3):
        for arm, compressor in arms.items():
            started = time.process_time()
            size = sum(len(compressor.compress(body)) for body in bodies)
            cpu = time.process_time() - started
            best[arm] = (min(cpu, best.get(arm, (cpu, 0))[0]), size)
    cpu19, size19 = best["level 19"]
    return [f"{name}: {len(bodies)} blocks, {sum(map(len, bodies)):,} raw bytes, "
            f"dictionary {len(trained):,} B", "",
            table(("zstd", "bytes", "vs level 19", "CPU s", "vs level 19"),
                  [(arm, f"{size:,}", f"{size / size19 - 1:+.2%}", f"{cpu:.2f}",
                    f"{cpu / cpu19:.2f}x") for arm, (cpu, size) in best.items()]), ""]


def _blocks_of(datas: list[bytes]) -> list[bytes]:
    """Solid blocks as `add` fills them: a batch of 64 briefs, at most 1 MiB each."""
    from briefmin.store.blocks import BLOCK_BYTES

    bodies, current, size = [], list[bytes](), 0
    for data in datas:
        if current and (len(current) >= 64 or size + len(data) > BLOCK_BYTES):
            bodies.append(b"".join(current))
            current, size = [], 0
        current.append(data)
        size += len(data)
    return [*bodies, b"".join(current)] if current else bodies


if __name__ == "__main__":
    main()
