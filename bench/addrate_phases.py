"""Run `briefmin ARGS...` (in-process, as `python -m briefmin`) and write the main thread's CPU
and wall seconds by phase to OUT as JSON: `bench_addrate.py --phases` runs it on each code.

Each phase is a function wrapped at batch level (or per brief where the pipeline calls one per
brief), timed by `time.thread_time()` and exclusive of the wrapped phases it calls, so the
phases add up to the main thread's CPU; waits (for a core, for the compression thread) are left
out of the CPU, and are what the wall has beyond it (`waits`: a phase's wall less its CPU,
e.g. `Pending.finish` waiting for the compression thread). The compression thread's own work
(`_compress`, `_compress_each`, the dictionary's training when it runs there) is timed too,
as `worker` phases, and every top-level span of either thread is kept in `spans` (thread,
phase, wall start and end from the script's start, CPU) for a timeline. Unlike cProfile,
which charges its own overhead to every small call (it put the row checksums at 13% of the
main thread, 1.5 s of 10,000 briefs; they cost 0.04 s), the wrappers cost microseconds per
call. A function a code does not have is not timed; its time falls in
the phase that calls it.

    PYTHONPATH=CODE python bench/addrate_phases.py OUT.json add A.bmin d0000 --model hashing:384
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import runpy
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

# (module, attribute path, phase): later entries of one phase add to it
PHASES = [
    ("briefmin.ingest", "admit", "read, sha256, binary sniff (text.admit)"),
    ("briefmin.ingest", "decode_text", "decode (ingest)"),
    ("briefmin.encoder", "encode_briefs", "hashing encoder"),
    ("briefmin.ingest", "add", "ingest loops"),
    ("briefmin.ingest", "_Run.store_ahead", "ingest loops"),
    ("briefmin.ingest", "_Run._store_batch", "ingest loops"),
    ("briefmin.store.archive", "Archive.store_batch", "store_batch's own code"),
    ("briefmin.store.archive", "decode_text", "store_batch's own code"),
    ("briefmin.store.catalogue", "insert_contents", "catalogue rows and checksums"),
    ("briefmin.store.catalogue", "insert_briefs", "catalogue rows and checksums"),
    ("briefmin.store.catalogue", "Lookup.time_ids", "catalogue rows and checksums"),
    ("briefmin.store.catalogue", "Lookup.stored", "catalogue rows and checksums"),
    ("briefmin.store.rows", "put", "catalogue rows and checksums"),
    ("briefmin.store.rows", "put_many", "catalogue rows and checksums"),
    ("briefmin.store.lexical", "index", "lexical index"),
    ("briefmin.store.lexical", "optimize", "lexical index"),
    ("briefmin.store.segments", "append", "vector segments"),
    ("briefmin.store.blocks", "Blocks.start", "solid blocks (main thread's part)"),
    ("briefmin.store.blocks", "Pending.finish", "solid blocks (main thread's part)"),
    ("briefmin.store.blocks", "Blocks.maybe_train_dictionary", "first dictionary"),
    ("briefmin.store.archive", "Archive.record_snapshot", "snapshot"),
    ("briefmin.store.connection", "Connection.executemany", "SQLite statements"),
    ("briefmin.store.connection", "Connection.query", "SQLite statements"),
    ("briefmin.store.connection", "Connection.one", "SQLite statements"),
    ("briefmin.store.connection", "Connection.script", "SQLite statements"),
]
COMMIT = "SQLite COMMIT"
REST = "start-up, CLI and the rest"

MAIN, WORKER = "main", "worker"
# phases whose every call is kept as a span for the timeline (not the per-brief or per-statement
# ones: thousands of calls)
SPANS = {"hashing encoder", "store_batch's own code", "solid blocks (main thread's part)",
         "first dictionary", "first dictionary: training", "SQLite COMMIT",
         "zstd of the solid blocks", "zstd of single briefs (the dictionary's probe)"}
WORKER_PHASES = [
    ("briefmin.store.blocks", "_compress", "zstd of the solid blocks"),
    ("briefmin.store.blocks", "_compress_each", "zstd of single briefs (the dictionary's probe)"),
    ("briefmin.codec", "train_dictionary", "first dictionary: training"),
]

CLOCK = time.perf_counter
spent: dict[str, dict[str, float]] = {MAIN: defaultdict(float), WORKER: defaultdict(float)}
walls: dict[str, dict[str, float]] = {MAIN: defaultdict(float), WORKER: defaultdict(float)}
spans: list[tuple[str, str, float, float, float]] = []  # thread, phase, start, end, CPU
_local = threading.local()  # per thread: the (CPU, wall) of the timed calls inside each open one
STARTED = CLOCK()


def _thread() -> str:
    return MAIN if threading.current_thread() is threading.main_thread() else WORKER


def _timed(phase: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        inner: list[list[float]] = _local.__dict__.setdefault("inner", [])
        started, wall = time.thread_time(), CLOCK()
        inner.append([0.0, 0.0])
        try:
            return fn(*args, **kwargs)
        finally:
            took, took_wall = time.thread_time() - started, CLOCK() - wall
            name = phase(*args) if callable(phase) else phase
            thread = _thread()
            cpu_in, wall_in = inner.pop()
            spent[thread][name] += took - cpu_in
            walls[thread][name] += took_wall - wall_in
            if inner:
                inner[-1][0] += took
                inner[-1][1] += took_wall
            if name in SPANS:
                spans.append((thread, name, wall - STARTED, wall + took_wall - STARTED, took))
    return wrapper


def _timed_walk(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """The walk is a generator the pipeline pulls from: each step is timed."""
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        steps = fn(*args, **kwargs)
        while True:
            started, wall = time.thread_time(), CLOCK()
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                spent[MAIN]["walk (sources.iter_sources)"] += time.thread_time() - started
                walls[MAIN]["walk (sources.iter_sources)"] += CLOCK() - wall
            yield item
    return wrapper


def _install() -> None:
    for module_name, path, phase in PHASES + WORKER_PHASES:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent, None)
        if owner is not None and hasattr(owner, name):
            setattr(owner, name, _timed(phase, getattr(owner, name)))
    sources = importlib.import_module("briefmin.sources")
    sources.iter_sources = _timed_walk(sources.iter_sources)  # before the CLI imports it
    connection = importlib.import_module("briefmin.store.connection").Connection
    connection.execute = _timed(lambda self, sql, *_: COMMIT if sql == "COMMIT"
                                else "SQLite statements", connection.execute)


# the worker thread's tasks, for the model of two idle cores (see `idle_wall`), at the main
# thread's CPU clock: each task's submission and CPU (the main thread's, when it compressed
# the task itself), the main thread's needs of results, and the tasks it compressed itself
tasks: list[dict[str, Any]] = []
needs: list[tuple[float, int, bool]] = []  # (when, task, at a batch's Pending.finish)
taken: list[tuple[float, int, float]] = []  # (when, task, CPU s): compressed by the main thread
_cancelled: list[int] = []  # tasks the main thread cancelled, last first
_finishing: list[Any] = []  # the Pending whose finish runs


def _install_tasks() -> None:
    from concurrent.futures import Future, ThreadPoolExecutor

    from briefmin.store import blocks

    if not hasattr(blocks, "Pending"):  # a code before the worker thread: nothing to model
        return
    submit, result, cancel = ThreadPoolExecutor.submit, Future.result, Future.cancel
    finish, compress = blocks.Pending.finish, blocks._compress

    def submitted(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        task = {"submit": time.thread_time(), "cpu": 0.0, "args": args}  # cancelled: 0 CPU

        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                task["cpu"] = time.thread_time() - started
        future = submit(self, run, *args, **kwargs)
        future.bench_task = len(tasks)  # type: ignore[attr-defined]
        tasks.append(task)
        return future

    def waited(self: Any, timeout: float | None = None) -> Any:
        if hasattr(self, "bench_task") and _thread() == MAIN and not (
                _finishing and _finishing[-1].frames is self):
            needs.append((time.thread_time(), self.bench_task, False))
        return result(self, timeout)

    def cancelled(self: Any) -> bool:
        done = cancel(self)
        if done and hasattr(self, "bench_task") and _thread() == MAIN:
            _cancelled.insert(0, self.bench_task)
        return bool(done)

    def compressed(bodies: list[bytes], dictionary: bytes | None) -> list[bytes]:
        started = time.thread_time()
        out = compress(bodies, dictionary)
        if _thread() == MAIN and _cancelled and tasks[_cancelled[0]]["args"][0] == bodies:
            task = _cancelled.pop(0)
            taken.append((started, task, time.thread_time() - started))
            tasks[task]["cpu"] = taken[-1][2]
        return out

    def finished(self: Any) -> int:
        if self.frames is not None and hasattr(self.frames, "bench_task"):
            needs.append((time.thread_time(), self.frames.bench_task, True))
        _finishing.append(self)
        try:
            return int(finish(self))
        finally:
            _finishing.pop()

    ThreadPoolExecutor.submit = submitted  # type: ignore[method-assign]
    Future.result = waited  # type: ignore[method-assign]
    Future.cancel = cancelled  # type: ignore[method-assign]
    blocks._compress = compressed
    blocks.Pending.finish = finished  # timed by _install already


def idle_wall(total: float, steals: bool, helps: bool
              ) -> tuple[float, list[tuple[float, float]]]:
    """The main thread's wall on two idle cores, modelled from the CPU it and the worker
    spent: the main thread runs its CPU, the worker its tasks in order (each from when it was
    submitted, or its predecessor ended). When the main thread needs a batch's blocks
    (`Pending.finish`) the worker has not started, it compresses them itself if the code
    `steals`; when the worker has started them, it waits, or (a code that `helps`)
    compresses coming batches' blocks the worker has not started until they are done. Other
    results it waits for. The GIL and the start before `main` are left out. Also returns
    each wait: (the main thread's modelled wall when it began, how long)."""
    events = sorted([(t["submit"], 0, i, False) for i, t in enumerate(tasks)] +
                    [(at, 1, i, own) for at, i, own in needs] +
                    [(at, 2, i, False) for at, i, _ in taken])
    cpu = {i: t["cpu"] for i, t in enumerate(tasks)}
    shift = 0.0  # modelled wall less the main thread's CPU so far
    free = 0.0  # when the worker is done with what it started
    queued: list[tuple[int, float]] = []
    ends: dict[int, float] = {}
    stalls = []

    def advance(now: float, until: int | None = None) -> None:
        """The worker starts what it can by `now` (or until it has started `until`)."""
        nonlocal free
        while queued and (max(free, queued[0][1]) <= now or
                          (until is not None and until not in ends)):
            i, since = queued.pop(0)
            free = max(free, since) + cpu[i]
            ends[i] = free

    for at, kind, task, at_finish in events:
        if kind == 0:
            queued.append((task, at + shift))
            continue
        if kind == 2:
            shift -= cpu[task]  # counted in the main thread's CPU; the model decides anew
            continue
        now = at + shift
        advance(now)
        if task not in ends and at_finish and steals:
            queued = [q for q in queued if q[0] != task]
            shift += cpu[task]
            continue
        while at_finish and helps and queued and ends.get(task, now + 1) > now:
            i, _ = queued.pop(0)
            shift += cpu[i]
            now += cpu[i]
            advance(now)
        advance(now, task)
        stall = max(0.0, ends.get(task, 0.0) - now)
        if stall:
            stalls.append((now, stall))
        shift += stall
    return total + shift, stalls


def _since_exec() -> float:
    """Wall seconds from the process's start (exec) to this script's first line: the
    interpreter's own start-up, which no wrapper sees."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat") as fh:
        start = int(fh.read().rsplit(")", 1)[1].split()[19]) / ticks
    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - (CLOCK() - STARTED) - start)


def main() -> None:
    out = sys.argv.pop(1)
    before = _since_exec()
    _install()
    _install_tasks()

    def report() -> None:
        total, wall = time.thread_time(), CLOCK() - STARTED
        pending = getattr(importlib.import_module("briefmin.store.blocks"), "Pending", None)
        fields = pending.__dataclass_fields__ if pending else {}
        modelled, stalls = idle_wall(total, "dictionary" in fields, "help" in fields)
        phases = dict(spent[MAIN]) | {REST: total - sum(spent[MAIN].values())}
        main_walls = dict(walls[MAIN]) | {REST: wall - sum(walls[MAIN].values())}
        with open(out, "w") as fh:
            json.dump({"total": total, "phases": phases, "wall": wall, "walls": main_walls,
                       "before_script": before, "idle_wall": modelled, "stalls": stalls,
                       "worker": dict(spent[WORKER]),
                       "worker_walls": dict(walls[WORKER]), "spans": spans,
                       "tasks": [{k: v for k, v in t.items() if k != "args"} for t in tasks],
                       "needs": needs, "taken": taken}, fh)

    atexit.register(report)
    sys.argv[0] = "briefmin"
    runpy.run_module("briefmin", run_name="__main__")


if __name__ == "__main__":
    main()
