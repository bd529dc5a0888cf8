"""Shared test fixtures.

Two encoders: the real bundled model (loaded once per session; every test whose outcome depends
on meaning uses it) and the instant `hashing:` encoder for storage and plumbing tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from briefmin import Archive, add, iter_sources
from briefmin.cli import app
from briefmin.encoder import BUNDLED_MODEL, Encoder, load_encoder

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
BRIEFS = FIXTURES / "briefs"
HASHING = "hashing:384"

# `make test` (CI) draws the property tests' examples from a fixed seed: a counterexample
# found by chance would fail a change that did not cause it. A plain `pytest` explores anew
# each run, and a failure it finds becomes an `@example`.
settings.register_profile("ci", derandomize=True)

_encoders: dict[str, Encoder] = {}


def cached_encoder(model_id: str) -> Encoder:
    """load_encoder, but each model is loaded once per test session."""
    if model_id not in _encoders:
        _encoders[model_id] = load_encoder(model_id)
    return _encoders[model_id]


@pytest.fixture(autouse=True)
def _share_loaded_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI commands run in-process (CliRunner) reuse the session's loaded model."""
    monkeypatch.setattr("briefmin.encoder.load_encoder", cached_encoder)


@pytest.fixture(scope="session")
def real_encoder() -> Encoder:
    return cached_encoder(BUNDLED_MODEL)


@pytest.fixture(scope="session", params=["default", "small"])
def fixture_archive(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                    ) -> Path:
    """An archive of fixtures/briefs made with the real model, once per profile (int8 and
    4-bit rescoring codes): every test of search and dedupe meaning runs on both. Treat it
    as read-only; copy it (`copy_archive`) before changing it."""
    path = tmp_path_factory.mktemp(f"fixture-archive-{request.param}") / "briefs.bmin"
    cwd = os.getcwd()
    os.chdir(FIXTURES)  # stored names are relative: briefs/product/pricing-eu.md, ...
    try:
        with Archive.open(path, write=True, create=True, profile=request.param) as archive:
            add(archive, iter_sources(["briefs"]), encoder_factory=cached_encoder)
    finally:
        os.chdir(cwd)
    return path


@pytest.fixture
def copy_archive(tmp_path: Path) -> Callable[[Path], Path]:
    def copy(source: Path) -> Path:
        target = tmp_path / f"copy-{source.name}"
        shutil.copyfile(source, target)
        return target
    return copy


@pytest.fixture
def hashing_archive(tmp_path: Path) -> Callable[..., Path]:
    """Make an archive with the hashing encoder from {relative name: bytes}."""
    def make(files: dict[str, bytes], name: str = "a.bmin") -> Path:
        src = tmp_path / "src"
        for rel, data in files.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(data)
        path = tmp_path / name
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            with Archive.open(path, write=True, create=True, model=HASHING) as archive:
                add(archive, iter_sources(["src"], include=["*"]))
        finally:
            os.chdir(cwd)
        return path
    return make


def fixture_like_briefs(root: Path, generated: int) -> Path:
    """root/briefs: the fixture tree (odd encodings, an empty and a binary file included) and
    `generated` more briefs made of its paragraphs, recombined (for tests that need a few
    hundred real-looking briefs)."""
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in sorted(BRIEFS.rglob("*.md"))]
    paragraphs = [q for t in texts for q in t.split("\n\n") if q.strip()]
    for source in BRIEFS.rglob("*"):
        if source.is_file():
            target = root / "briefs" / source.relative_to(BRIEFS)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    for i in range(generated):
        picked = [paragraphs[(i * 7 + j * 13) % len(paragraphs)] for j in range(1 + i % 6)]
        target = root / "briefs" / "mixed" / f"brief-{i:03d}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# Brief {i}\n\n" + "\n\n".join(picked) + "\n", encoding="utf-8")
    return root / "briefs"


def vector_rows(path: Path) -> dict[tuple[str, int, tuple[int, int]], tuple[bytes, Any]]:
    """Every vector row of an archive by (content sha256, kind, chunk span): its scan code
    (sign bits) and its rescoring code (as floats)."""
    from briefmin.store import BRIEF_KINDS, KIND_CHUNK

    kinds = (*BRIEF_KINDS, KIND_CHUNK)
    with Archive.open(path) as archive:
        stored, codes = archive.vectors(kinds), archive.all_int8(kinds).astype(np.float64)
        digests = {r.content_id: r.sha256 for r in archive.records(all_versions=True)}
    return {(digests[int(c)], int(k), (int(s[0]), int(s[1]))): (bits.tobytes(), codes[row])
            for row, (c, k, s, bits) in enumerate(
                zip(stored.content_ids, stored.kinds, stored.spans, stored.bits, strict=True))}


def min_row_cosine(a: Path, b: Path) -> float:
    """The two archives hold the same rows; the lowest cosine between their rescoring codes."""
    rows_a, rows_b = vector_rows(a), vector_rows(b)
    assert rows_a.keys() == rows_b.keys() and rows_a
    return min(float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
               for (_, x), (_, y) in ((rows_a[key], rows_b[key]) for key in rows_a))


class Cli:
    """Runs briefmin in-process like a shell would, with its exit code mapping."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str], input: bytes | str | None = None
                 ) -> subprocess.CompletedProcess[str]:
        result = self.runner.invoke(app, [str(a) for a in args], input=input,
                                    catch_exceptions=False)
        return subprocess.CompletedProcess([str(a) for a in args], result.exit_code,
                                           result.stdout, result.stderr)


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run_briefmin(*args: str | os.PathLike[str], cwd: Path | None = None,
                 input: bytes | None = None, timeout: float = 300,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`python -m briefmin ARGS` in a fresh process (for import checks, signals, pipes)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "briefmin", *map(str, args)], cwd=cwd,
                          input=input, capture_output=True, timeout=timeout, env=full_env,
                          check=False)


@pytest.fixture
def chdir_tmp(tmp_path: Path) -> Iterator[Path]:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)
