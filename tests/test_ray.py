"""`add --ray`: encoding on a local Ray cluster (2 CPUs, 2 actors) with the real model gives
the local encoder's vectors, survives a killed actor, and a killed driver keeps its commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from briefmin import Archive, add, iter_sources
from briefmin.distributed import RayEncoding, RayOptions

from .conftest import ROOT, cached_encoder, fixture_like_briefs, min_row_cosine

pytestmark = [pytest.mark.model,
              # Ray Data's DataContext copies its own deprecated fields
              pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")]
ray = pytest.importorskip("ray")

GENERATED = 250


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local cluster for the module (RayEncoding joins it instead of starting its own)."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300 fixture-like briefs under corpus/briefs."""
    root = tmp_path_factory.mktemp("ray-corpus")
    fixture_like_briefs(root, GENERATED)
    return root


@pytest.fixture(scope="module")
def local_archive(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The corpus added locally (the reference), and how many briefs that added."""
    path = tmp_path_factory.mktemp("ray-local") / "local.bmin"
    return path, build(path, corpus)


def build(path: Path, corpus: Path, ray_options: RayOptions | None = None,
          on_commit: Callable[[list[str]], None] | None = None) -> int:
    """Add the corpus to `path`: locally with the session's model, or on the module's Ray
    cluster. Returns how many briefs were added."""
    cwd = os.getcwd()
    os.chdir(corpus)
    try:
        with Archive.open(path, write=True, create=True) as archive:
            encoding = RayEncoding(archive, ray_options) if ray_options else None
            report = add(archive, iter_sources(["briefs"]), encoder_factory=cached_encoder,
                         encoding=encoding, on_commit=on_commit)
    finally:
        os.chdir(cwd)
    return len(report.added)


def assert_restores(archive: Path, corpus: Path, tmp_path: Path, expected: int) -> None:
    with Archive.open(archive) as arch:
        records = arch.records()
        assert len(records) == expected
        arch.restore(records, tmp_path / "restored")
    for record in records:
        assert (tmp_path / "restored" / record.path).read_bytes() == \
            (corpus / record.path).read_bytes(), record.path


def test_ray_add_gives_the_local_vectors_and_restores(
        ray_cluster: None, corpus: Path, local_archive: tuple[Path, int], tmp_path: Path) -> None:
    (local, added), remote = local_archive, tmp_path / "ray.bmin"
    assert added > 300
    assert build(remote, corpus, RayOptions(actors=2)) == added
    assert min_row_cosine(local, remote) >= 0.9999
    assert_restores(remote, corpus, tmp_path, added)


def actor_pids() -> list[int]:
    """Worker processes running the encode actor (Ray titles them after the class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"EncodeActor" in title:
                pids.append(int(entry.name))
    return pids


def test_a_killed_actor_is_replaced_and_the_add_completes(
        ray_cluster: None, corpus: Path, local_archive: tuple[Path, int], tmp_path: Path) -> None:
    killed: list[int] = []
    commits: list[int] = []

    def kill_one_actor_after_the_first_commit(names: list[str]) -> None:
        commits.append(len(names))
        if len(commits) == 1:
            pids = actor_pids()
            assert len(pids) == 2, pids
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    (local, expected), remote = local_archive, tmp_path / "ray.bmin"
    # small actor calls: most of the run is still ahead when the first batch commits
    added = build(remote, corpus, RayOptions(actors=2, batch=8),
                  on_commit=kill_one_actor_after_the_first_commit)
    assert killed and len(commits) > 2
    assert killed[0] not in actor_pids()
    assert added == expected
    assert min_row_cosine(local, remote) >= 0.9999
    assert_restores(remote, corpus, tmp_path, added)


def committed(archive: Path) -> int:
    try:
        with Archive.open(archive) as arch:
            return len(arch.records())
    except Exception:  # not created yet, or mid-creation
        return 0


def test_a_killed_driver_keeps_its_commits_and_a_rerun_completes(
        ray_cluster: None, corpus: Path, tmp_path: Path) -> None:
    archive = tmp_path / "ray.bmin"
    driver = subprocess.Popen(
        [sys.executable, "-m", "briefmin", "add", str(archive), "briefs", "--ray",
         "--ray-actors", "2", "--ray-batch", "8", "--quiet"],
        cwd=corpus, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while committed(archive) == 0 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    kept = committed(archive)
    assert 0 < kept < 300, kept  # killed mid-run, after its first commit
    with Archive.open(archive) as arch:
        assert arch.verify().ok
    added = build(archive, corpus, RayOptions(actors=2))
    assert kept + added > 300
    assert_restores(archive, corpus, tmp_path, kept + added)



def test_a_quiet_ray_add_prints_nothing(tmp_path: Path) -> None:
    """cron mails any output: Ray's notice that it read RAY_BACKEND_LOG_LEVEL (printed by its
    C++ logging at start-up, whatever the level) must not reach the user's stderr."""
    folder = tmp_path / "briefs"
    folder.mkdir()
    for n in range(3):
        (folder / f"b{n}.md").write_text(f"Brief {n}: renew the lease for site {n}.\n")
    done = subprocess.run(
        [sys.executable, "-m", "briefmin", "add", str(tmp_path / "q.bmin"), str(folder),
         "--ray", "--quiet"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with Archive.open(tmp_path / "q.bmin") as arch:
        assert len(arch.records()) == 3
