"""Each planted fixture case through the real model (fixtures/README.md lists them)."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path

import pytest

from briefmin import Archive, add, iter_sources

from .conftest import BRIEFS, FIXTURES, Cli, cached_encoder

pytestmark = pytest.mark.model


def test_every_text_fixture_restores_byte_identical(fixture_archive: Path,
                                                    tmp_path: Path) -> None:
    with Archive.open(fixture_archive) as archive:
        archive.restore(archive.records(), tmp_path)
        assert archive.verify().ok
    stored = {p.relative_to(tmp_path / "briefs") for p in (tmp_path / "briefs").rglob("*")
              if p.is_file()}
    expected = {p.relative_to(BRIEFS) for p in BRIEFS.rglob("*") if p.is_file()} - {
        Path("misc/logo.md")}
    assert stored == expected
    _, mismatch, errors = filecmp.cmpfiles(BRIEFS, tmp_path / "briefs",
                                           [str(p) for p in expected], shallow=False)
    assert mismatch == [] and errors == []


def test_exact_copy_is_stored_once(fixture_archive: Path) -> None:
    with Archive.open(fixture_archive) as archive:
        (original,) = archive.records(["briefs/engineering/cache-invalidation.md"])
        (copy,) = archive.records(["briefs/archive/cache-invalidation-copy.md"])
        info = archive.info()
    assert original.sha256 == copy.sha256 and original.content_id == copy.content_id
    assert info["unique_contents"] == info["briefs"] - 1


def test_binary_fixture_is_skipped_with_its_reason_and_empty_one_stored(
        tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a.bmin", write=True, create=True) as archive:
        report = add(archive, iter_sources([str(BRIEFS / "misc")]))
    reasons = {Path(s.name).name: s.reason for s in report.skipped}
    assert reasons == {"logo.md": "binary, not text"}
    assert sorted(Path(p).name for p in report.added) == ["empty.md",
                                                          "printer-replacement.txt"]


def test_latin1_is_stored_byte_exact_and_decoded_with_a_fallback(fixture_archive: Path) -> None:
    name = "briefs/legal/distributor-agreement-spain-latin1.txt"
    with Archive.open(fixture_archive) as archive:
        (record,) = archive.records([name])
        data = archive.read(record)
        text = archive.text(record.content_id)
    assert data == (FIXTURES / name).read_bytes()
    assert record.encoding == "cp1252"
    assert "España" in text or "Espa\u00f1a" in text or "\u00f1" in text


def test_crlf_brief_keeps_its_line_endings(fixture_archive: Path) -> None:
    name = "briefs/engineering/windows-installer-signing.txt"
    with Archive.open(fixture_archive) as archive:
        (record,) = archive.records([name])
        data = archive.read(record)
    assert data.count(b"\r\n") >= 30 and data == (FIXTURES / name).read_bytes()


def test_long_brief_is_chunked(fixture_archive: Path) -> None:
    with Archive.open(fixture_archive) as archive:
        (record,) = archive.records(["briefs/design/booking-calendar-spec.md"])
        vectors = archive.vectors()
        rows = vectors.content_ids == record.content_id
        text = archive.text(record.content_id)
    spans = vectors.spans[rows]
    assert rows.sum() >= 20  # ~36 KB of prose in windows of 254 word pieces
    assert spans[0][0] == 0 and spans[-1][1] >= len(text.rstrip()) - 1
    assert (spans[1:, 0] < spans[:-1, 1]).all()  # consecutive windows overlap


def test_two_versions_of_one_brief(cli: Cli, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    name = "warehouse-robot-pilot.md"
    archive = tmp_path / "a.bmin"
    cwd = os.getcwd()
    os.chdir(work)
    try:
        shutil.copy(FIXTURES / "versions/v1" / name, name)
        first = json.loads(cli("add", archive, name, "--json").stdout)
        shutil.copy(FIXTURES / "versions/v2" / name, name)
        second = json.loads(cli("add", archive, name, "--json").stdout)
        again = json.loads(cli("add", archive, name, "--json").stdout)
        v1 = cli("restore", archive, name, "--version", "1", "--stdout").stdout
    finally:
        os.chdir(cwd)
    assert first["added"] == [name] and second["new_versions"] == [name]
    assert again["unchanged"] == 1
    assert v1 == (FIXTURES / "versions/v1" / name).read_text()


def test_real_model_vectors_are_stored_as_unit_int8_and_binary(fixture_archive: Path,
                                                               real_encoder: object) -> None:
    import numpy as np

    with Archive.open(fixture_archive) as archive:
        meta = archive.meta
        vectors = archive.vectors()
        (record,) = archive.records(["briefs/product/pricing-eu.md"])
        text = archive.text(record.content_id)
        rows = np.flatnonzero(vectors.content_ids == record.content_id)
        codes = vectors.int8(rows[:1])
    assert meta.dim == 384 and meta.model_id == "bundled:all-MiniLM-L6-v2"
    first_chunk = text[vectors.spans[rows[0]][0]:vectors.spans[rows[0]][1]]
    expected = cached_encoder(meta.model_id).encode([first_chunk])[0]
    approx = vectors.scale.scores(expected, codes)[0]
    if meta.profile == "default":
        assert approx > 0.995  # int8 rounding costs well under 1% of cosine
    else:
        assert abs(approx - 1) < 0.02  # 4-bit codes: unbiased, a little noisier
