"""store/segments.py: vector rows per brief and chunk, merged segments, the small profile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from briefmin import Archive, Source, add, iter_sources
from briefmin.store import SEARCH_KINDS

from .. import surgery
from ..conftest import HASHING


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def test_long_text_gets_chunk_vectors_and_a_brief_vector(tmp_path: Path) -> None:
    long_text = " ".join(f"word{i}" for i in range(2000)).encode()
    with open_new(tmp_path / "a.bmin") as archive:
        add(archive, [Source("long.txt", None, long_text), Source("short.txt", None, b"hi\n")])
        vectors = archive.vectors()
        (long_id,) = {r.content_id for r in archive.records(["long.txt"])}
        chunks = vectors.content_ids == long_id
        assert chunks.sum() >= 8  # 2000 words in windows of 254 tokens with overlap
        starts = vectors.spans[chunks][:, 0]
        assert (starts[1:] > starts[:-1]).all()
        assert len(archive.vectors(kinds=(0, 2))) == 2  # one brief-level row each
        assert archive.verify().ok


def test_vector_segments_are_merged_as_adds_accumulate(tmp_path: Path) -> None:
    """Many small adds leave a few large vector segments, not one per add, and searching and
    verifying still see every vector."""
    from briefmin.store import SEARCH_KINDS, SEGMENT_FANOUT

    os.chdir(tmp_path)
    with Archive.open("a.bmin", write=True, create=True, model=HASHING) as archive:
        for i in range(SEGMENT_FANOUT * 2 + 3):
            (tmp_path / f"b{i}.md").write_text(f"brief {i} about topic {i}\n")
            add(archive, iter_sources([f"b{i}.md"]))
        assert len(archive.vectors(SEARCH_KINDS)) == SEGMENT_FANOUT * 2 + 3
        assert archive.verify().ok
    sizes = surgery.segment_sizes(tmp_path / "a.bmin")
    assert sum(sizes) == SEGMENT_FANOUT * 2 + 3 and len(sizes) < SEGMENT_FANOUT


def test_small_profile_stores_4_bit_codes_and_everything_still_works(tmp_path: Path) -> None:
    """`profile="small"`: half the rescoring bytes per row; codes read back as the int8 arrays
    search and dedupe use; rm and verify handle the packed rows; the profile is fixed at
    creation."""
    from briefmin.errors import UsageError

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"b{i}.md").write_text(f"brief {i} about topic {i % 3}\n" * (i + 1))
    sizes = {}
    for profile in ("default", "small"):
        path = tmp_path / f"{profile}.bmin"
        with Archive.open(path, write=True, create=True, model=HASHING,
                          profile=profile) as archive:
            add(archive, iter_sources([str(folder)]))
            info = archive.info()
            assert info["quantization"]["profile"] == profile
            assert info["quantization"]["rescore_bits"] == (8 if profile == "default" else 4)
            sizes[profile] = info["vector_bytes"]
            stored = archive.vectors()
            codes = archive.all_int8(SEARCH_KINDS)
            peak = 127 if profile == "default" else 7
            assert codes.dtype == "int8" and int(abs(codes).max()) <= peak
            # reading some rows from disk gives the same codes as reading all
            rows = [0, len(stored) // 2, len(stored) - 1]
            assert (stored.int8(rows) == codes[rows]).all()
            archive.rm([archive.records()[0].path])
            assert archive.verify().ok
            assert len(archive.all_int8(SEARCH_KINDS)) == len(archive.vectors())
    # 384 int8 bytes a row become 192; ids, kinds, spans and binary codes stay
    assert sizes["small"] < 0.65 * sizes["default"]
    with pytest.raises(UsageError, match="made with profile 'small'"):
        Archive.open(tmp_path / "small.bmin", write=True, profile="default")
    with pytest.raises(UsageError, match="unknown profile"):
        Archive.open(tmp_path / "x.bmin", write=True, create=True, profile="tiny")
    assert not (tmp_path / "x.bmin").exists()


@pytest.mark.parametrize("bits", [0, 4, 8])
@pytest.mark.parametrize("dim", [384, 768, 1024])
def test_row_bytes_matches_the_quantizer(bits: int, dim: int) -> None:
    # segments spells the row size out so that verify and restore need not import numpy
    from briefmin.quantize import RescoreCodes
    from briefmin.store.segments import _row_bytes

    assert _row_bytes(bits, dim) == (RescoreCodes(bits).row_bytes(dim) if bits else 0)
