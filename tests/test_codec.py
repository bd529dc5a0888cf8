"""codec: zstd frames round-trip any bytes, and a frame that lies about its size is refused."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin import codec
from briefmin.errors import IntegrityError


@given(st.binary(max_size=20_000))
@settings(max_examples=150, deadline=None)
def test_compress_round_trips_arbitrary_bytes(data: bytes) -> None:
    assert codec.decompress(codec.compress(data), len(data)) == data


def test_dictionary_round_trip_and_gain() -> None:
    samples = [f"# Brief {i}\n\nThe customer wants feature {i} shipped by Q{i % 4 + 1}. "
               f"Owner: team {i % 7}. Budget {i * 100} EUR.\n".encode() * 20 for i in range(80)]
    dictionary = codec.train_dictionary(samples)
    assert dictionary is not None
    plain = sum(len(codec.compress(s)) for s in samples)
    with_dict = sum(len(codec.compress(s, dictionary)) for s in samples)
    assert with_dict < plain
    assert codec.decompress(codec.compress(samples[3], dictionary), len(samples[3]),
                            dictionary) == samples[3]


def test_too_few_samples_train_no_dictionary() -> None:
    assert codec.train_dictionary([b"abc"] * 5) is None


def test_frame_larger_than_recorded_size_is_an_error_not_a_memory_bomb() -> None:
    bomb = codec.compress(b"\0" * 50_000_000)  # ~1.6 KB that inflates to 50 MB
    assert len(bomb) < 10_000
    with pytest.raises(IntegrityError, match="more than 1024"):
        codec.decompress(bomb, 1024)


def test_damaged_frame_is_an_integrity_error() -> None:
    data = os.urandom(3000)
    frame = bytearray(codec.compress(data))
    frame[len(frame) // 2] ^= 0xFF
    with pytest.raises(IntegrityError):
        codec.decompress(bytes(frame), len(data))
