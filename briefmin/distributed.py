"""Encoding on a Ray cluster (`briefmin add --ray`).

The driver (the `add` process) admits sources and writes the archive as usual; only the new
texts travel, as a Ray Data pipeline: `map_batches` over a pool of actors, each of which loads
the archive's model once and runs the local encoder's own `encode_briefs` (same chunking,
pooling and normalization, so the stored vectors match a local add). Results come back in
order and are stored in the usual 64-brief transactions by the one writer.

Ray is optional (`pip install 'briefmin[ray]'`) and imported only here, only when `--ray` is
given."""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .encoder import EncodedBrief, Encoder, encode_briefs, load_encoder
from .errors import ModelError, UsageError
from .modelid import RAY_BATCH_BRIEFS

if TYPE_CHECKING:
    from .store import Archive

INSTALL_HINT = "pip install 'briefmin[ray]'"
CONNECT_TIMEOUT_S = 10
# Admitted briefs sent to the cluster as one dataset: each dataset starts its own actor pool
# (one model load per actor), so it is large; the driver holds the window's bytes meanwhile.
RAY_AHEAD_BRIEFS = 65536
RAY_AHEAD_BYTES = 64 * 1024 * 1024


@dataclass
class RayOptions:
    """`address`: None starts a local Ray for the run; "auto" joins the cluster in
    RAY_ADDRESS; anything else is a Ray address. `actors`: None = one per machine (per GPU on a
    cluster with GPUs). `batch`: texts per actor call."""

    address: str | None = None
    actors: int | None = None
    batch: int = RAY_BATCH_BRIEFS


def check_address(address: str | None) -> None:
    """`auto` without RAY_ADDRESS names no cluster: a usage error, which `add` raises before
    it reads anything (with nothing new Ray is never joined, and a misconfigured cron job
    passed until a new file came)."""
    if address == "auto" and not os.environ.get("RAY_ADDRESS"):
        raise UsageError("--ray-address auto needs RAY_ADDRESS (the cluster to join)")


def import_ray() -> ModuleType:
    """`ray`, with Ray Data, or a usage error saying how to install it."""
    try:
        import ray
        import ray.data  # the pipeline needs the Data library, not only core
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    module: ModuleType = ray
    return module


class EncodeActor:
    """One per Ray actor: the model, loaded once, applied to batches of texts."""

    def __init__(self, model_id: str, gpu: bool) -> None:
        if gpu:  # the ONNX path runs on CPU; sentence-transformers uses the actor's GPU
            os.environ.setdefault("BRIEFMIN_BACKEND", "torch")
        self.encoder: Encoder = load_encoder(model_id)

    def __call__(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        briefs = encode_briefs(self.encoder, [str(text) for text in batch["text"]])
        # variable-length rows travel as bytes (Arrow has no ragged float matrices)
        return {
            "index": batch["index"],
            "spans": _column([np.asarray(b.spans, np.int64).tobytes() for b in briefs]),
            "chunks": _column([np.asarray(b.chunk_vectors, np.float32).tobytes()
                               for b in briefs]),
            "brief": _column([np.asarray(b.brief_vector, np.float32).tobytes()
                              for b in briefs]),
            "dim": np.full(len(briefs), self.encoder.dim, np.int64),
            "max_tokens": np.full(len(briefs), self.encoder.max_tokens, np.int64),
        }


def _column(values: list[bytes]) -> npt.NDArray[Any]:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


class RayEncoding:
    """`encoder.Encoding` on a Ray cluster. Ray is imported and joined (or started) on the
    first `encode`, so an add with nothing new never touches it."""

    ahead_briefs = RAY_AHEAD_BRIEFS
    ahead_bytes = RAY_AHEAD_BYTES

    def __init__(self, archive: Archive, options: RayOptions) -> None:
        self._archive = archive
        self._options = options
        self._ray: ModuleType | None = None
        self._started = False
        self._max_tokens = 0

    def chunk_tokens(self) -> int:
        return self._max_tokens

    def encode(self, texts: list[str]) -> Iterator[EncodedBrief]:
        ray = self._connect()
        actors, per_actor = self._pool(ray)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come back in the order sent
        context.enable_progress_bars = False
        dataset = ray.data.from_items([{"index": i, "text": t} for i, t in enumerate(texts)])
        encoded = dataset.map_batches(
            EncodeActor, fn_constructor_kwargs={"model_id": self._archive.meta.model_id,
                                                "gpu": "num_gpus" in per_actor},
            batch_size=self._options.batch, batch_format="numpy",
            # a dead actor is restarted and its batch retried: Ray Data's own defaults for
            # actor pools (max_restarts=-1, max_task_retries=-1; passing them is deprecated)
            compute=ray.data.ActorPoolStrategy(size=actors), **per_actor)
        expected = 0
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            for row in range(len(batch["index"])):
                if int(batch["index"][row]) != expected:  # preserve_order is the contract
                    raise RuntimeError(f"Ray returned row {batch['index'][row]}, "
                                       f"expected {expected}")
                expected += 1
                if not self._max_tokens:
                    self._archive.check_dim(self._archive.meta.model_id, int(batch["dim"][row]))
                    self._max_tokens = int(batch["max_tokens"][row])
                yield _decode(batch, row, int(batch["dim"][row]))

    def _connect(self) -> ModuleType:
        if self._ray is not None:
            return self._ray
        # Ray's INFO lines and C++ notices are not for a CLI's user (they stay in Ray's
        # session log files)
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        if self._options.address is not None:
            # set before Ray is imported (its C++ config reads them then), each unless the
            # user set it: see JOIN_TUNING
            for name, value in JOIN_TUNING.items():
                os.environ.setdefault(name, value)
        ray = import_ray()
        logging.getLogger("ray").setLevel(logging.ERROR)
        for handler in logging.getLogger("ray.data").handlers:
            if "File" not in type(handler).__name__:
                handler.setLevel(logging.ERROR)
        if not ray.is_initialized():
            address = self._options.address
            check_address(address)
            if address is not None:
                _check_reachable(os.environ["RAY_ADDRESS"] if address == "auto" else address)
            else:
                # Ray runs workers at nice 15 (to keep its own daemons responsive); on this
                # machine the actors are this command's work, and at nice 15 any other load
                # starves them (measured: 9% of a core per actor beside 35% for a local add)
                os.environ.setdefault("RAY_worker_niceness", "0")
            said: list[str] = []  # what Ray printed, when it failed
            try:
                with _quiet_start(said):
                    ray.init(address=address or "local", include_dashboard=False,
                             log_to_driver=False, logging_level="ERROR",
                             configure_logging=True)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                # Ray's own last log line says what answered (its retries, each a line of
                # C++ log on stderr, said nothing more)
                cause = _last_ray_log(said)
                raise ModelError(f"cannot start or join Ray ({address or 'local'}): {why}"
                                 + (f" ({cause})" if cause else "")
                                 + ("; check that a Ray cluster's head runs there (`ray "
                                    "status --address ADDRESS`)" if address else "")) from None
            self._started = True
        self._ray = ray
        return ray

    def _pool(self, ray: ModuleType) -> tuple[int, dict[str, Any]]:
        """How many actors, and what each reserves: a GPU each on a cluster that has GPUs,
        else a CPU each and by default one per machine (spread over them): ONNX Runtime in
        an actor uses every core of its machine whatever the actor reserved, so one actor
        per CPU only makes actors compete (2,000 briefs on 2 cores: one actor 84.6 s, two
        97.5 s; bench/RESULTS.md)."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            return self._options.actors or gpus, {"num_gpus": 1.0, "num_cpus": 1.0}
        machines = sum(1 for node in ray.nodes()
                       if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0)
        # spread over the machines: Ray Data's default for actor pools (DataContext's
        # scheduling_strategy "SPREAD"); passing it ourselves is deprecated in Ray 2.60
        return self._options.actors or max(1, machines), {"num_cpus": 1.0}

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray = None


# what Ray's C++ logging prints, at INFO before the level applies, whenever the variable is
# set; with it unset, every run would print instead an ERROR about Ray Data's actor
# constructor arguments (ray-project/ray#53727)
LEVEL_NOTICE = "Set ray log level from environment variable RAY_BACKEND_LOG_LEVEL"


# Joining a cluster (`--ray-address`): Ray's driver tries the head 20 times, a second apart
# (for a head still starting), each try waiting up to 30 s for the cluster's id. Where
# something other than a Ray head answers, `add` took 23 s (an HTTP/2 server answering 404)
# to some 14 minutes (a server that accepts and says nothing: one try took 41 s). With one
# try waiting up to 10 s, the whole command fails in 5.6 s and 25.6 s, Ray's import
# included; a running head answers at once (a join of a local one: 9.3 s, its add done).
# Set only when the user has not: RAY_gcs_server_port_wait_time_s is the number of tries
# (ray/_private/node.py), RAY_py_gcs_connect_timeout_s the wait of Python's GCS clients.
JOIN_TUNING = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "10"}


@contextmanager
def _quiet_start(said: list[str]) -> Iterator[None]:
    """fd 2 goes to a temporary file while Ray starts or joins. When that succeeds, every
    line it got comes back but LEVEL_NOTICE: `add --ray --quiet` in cron must print nothing
    (cron mails any output). When it fails, none does (the error is one line) and `said`
    gets them. Ray's daemons started meanwhile keep the file as their stderr; they log to
    their session's files."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            if failed:
                said.extend(lines)
            else:
                sys.stderr.writelines(line for line in lines if LEVEL_NOTICE not in line)
                sys.stderr.flush()


# a line of Ray's C++ log: `[2026-12-05 20:10:19,556 W 1448 1448] gcs_client.cc:210: what`
_RAY_LOG = re.compile(r"^\[[\d-]+ [\d:,.]+ [DIWEF] \d+ \d+\] [\w.]+:\d+: (.+)$")


def _last_ray_log(lines: list[str]) -> str:
    """The message of the last line of Ray's C++ log among `lines` ("" when none is)."""
    for line in reversed(lines):
        found = _RAY_LOG.match(line.strip())
        if found:
            return found.group(1).strip()
    return ""


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes (ray.init retries an unreachable head for a long time)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port: Ray's own parsing decides
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ModelError(f"cannot reach the Ray cluster at {address}: {exc}") from None


def _decode(batch: dict[str, npt.NDArray[Any]], row: int, dim: int) -> EncodedBrief:
    spans = np.frombuffer(batch["spans"][row], np.int64).reshape(-1, 2)
    chunks = np.frombuffer(batch["chunks"][row], np.float32).reshape(-1, dim)
    return EncodedBrief([(int(a), int(b)) for a, b in spans], chunks.copy(),
                        np.frombuffer(batch["brief"][row], np.float32).copy())
