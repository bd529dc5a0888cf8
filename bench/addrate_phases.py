"""Run `briefmin ARGS...` (in-process, as `python -m briefmin`) and write the main thread's CPU
seconds by phase to OUT as JSON: `bench_addrate.py --phases` runs it on each code.

Each phase is a function wrapped at batch level (or per brief where the pipeline calls one per
brief), timed by `time.thread_time()` and exclusive of the wrapped phases it calls, so the
phases add up to the main thread's CPU; waits (for a core, for the compression thread) are left
out. Unlike cProfile, which charges its own overhead to every small call (it put the row
checksums at 13% of the main thread, 1.5 s of 10,000 briefs; they cost 0.04 s), the wrappers
cost microseconds per call. A function a code does not have is not timed; its time falls in
the phase that calls it.

    PYTHONPATH=CODE python bench/addrate_phases.py OUT.json add A.bmin d0000 --model hashing:384
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import runpy
import sys
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

spent: dict[str, float] = defaultdict(float)
_inner: list[float] = []  # per open timed call: the time of the timed calls inside it


def _timed(phase: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        _inner.append(0.0)
        try:
            return fn(*args, **kwargs)
        finally:
            took = time.thread_time() - started
            name = phase(*args) if callable(phase) else phase
            spent[name] += took - _inner.pop()
            if _inner:
                _inner[-1] += took
    return wrapper


def _timed_walk(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """The walk is a generator the pipeline pulls from: each step is timed."""
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        steps = fn(*args, **kwargs)
        while True:
            started = time.thread_time()
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                spent["walk (sources.iter_sources)"] += time.thread_time() - started
            yield item
    return wrapper


def _install() -> None:
    for module_name, path, phase in PHASES:
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


def main() -> None:
    out = sys.argv.pop(1)
    _install()

    def report() -> None:
        total = time.thread_time()
        phases = dict(spent) | {REST: total - sum(spent.values())}
        with open(out, "w") as fh:
            json.dump({"total": total, "phases": phases}, fh)

    atexit.register(report)
    sys.argv[0] = "briefmin"
    runpy.run_module("briefmin", run_name="__main__")


if __name__ == "__main__":
    main()
