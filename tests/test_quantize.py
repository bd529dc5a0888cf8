"""quantize.py: rescoring codes pack and unpack exactly; the binary decoder's calibration
of sign-law cosines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

if TYPE_CHECKING:
    from briefmin.quantize import Floats


@given(st.lists(st.lists(st.integers(-7, 7), min_size=8, max_size=8), min_size=1,
                max_size=20))
def test_4_bit_codes_pack_two_per_byte_and_unpack_exactly(rows: list[list[int]]) -> None:
    import numpy as np

    from briefmin.quantize import RescoreCodes

    codes = np.array(rows, np.int8)
    small = RescoreCodes(4)
    packed = small.pack(codes)
    assert len(packed) == len(rows) * 4 == len(rows) * small.row_bytes(8)
    assert (small.unpack(packed, len(rows), 8) == codes).all()
    assert (RescoreCodes(8).unpack(RescoreCodes(8).pack(codes), len(rows), 8) == codes).all()


def _planted_bias(seed: int = 3) -> tuple[Floats, Floats]:
    """Pairs whose 'sign-law' reading is the true cosine plus a bias that shrinks to 0 at 1
    (about the shape measured on real binary rows: +0.07 near 0.75, +0.04 near 0.85), with
    noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    true = np.concatenate([rng.uniform(-0.2, 0.5, 5000), rng.uniform(0.5, 1.0, 20000)])
    law = np.clip(true + 0.5 * (1 - true) ** 1.5 + rng.normal(0, 0.02, len(true)), -1, 1)
    return true.astype(np.float32), law.astype(np.float32)


def test_sign_calibration_removes_a_planted_bias() -> None:
    import numpy as np

    from briefmin.quantize import sign_calibration

    true, law = _planted_bias()
    calibration = sign_calibration(law, true)
    assert calibration is not None
    assert calibration.x[-1] == calibration.y[-1] == 1.0
    assert np.all(np.diff(calibration.x) > 0) and np.all(np.diff(calibration.y) >= 0)
    # judged on pairs it was not fitted on
    true, law = _planted_bias(seed=4)
    mapped = calibration(law)
    for lo in (0.7, 0.75, 0.8, 0.85, 0.9):
        near = (true >= lo) & (true < lo + 0.05)
        before = float(np.mean(law[near] - true[near]))
        after = float(np.mean(mapped[near] - true[near]))
        assert abs(after) < 0.01 < before, (lo, before, after)
    assert calibration(np.array([1.0], np.float32))[0] == 1.0  # same signs: still a copy
    assert sign_calibration(law[:10], true[:10]) is None


def test_decoder_json_keeps_the_calibration_and_reads_older_decoders() -> None:
    import dataclasses

    import numpy as np

    from briefmin.quantize import BinaryDecoder, binary_codes

    rng = np.random.default_rng(0)
    # clustered unit vectors, so that nearest neighbours reach high cosines
    centres = rng.normal(size=(40, 64)) + 0.5
    vectors = (centres[rng.integers(0, 40, 3000)] + rng.normal(0, 0.6, (3000, 64))
               ).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    bits = binary_codes(vectors)
    decoder = BinaryDecoder.fit(vectors, bits)
    assert decoder.calibration is not None
    again = BinaryDecoder.from_json(decoder.to_json())
    assert again.calibration is not None
    assert np.allclose(again.calibration.x, decoder.calibration.x, atol=1e-6)
    a, b = bits[:500], bits[500:1000]
    assert np.allclose(again.sign_cosines(a, b), decoder.sign_cosines(a, b), atol=1e-5)
    # a decoder written before the calibration reads the sign law as it did
    older = decoder.to_json()
    del older["calibration"]
    law = BinaryDecoder.from_json(older)
    assert law.calibration is None
    assert np.array_equal(law.sign_cosines(a, b),
                          dataclasses.replace(decoder, calibration=None).sign_cosines(a, b))
    # the calibration lowers what the law reads high (pairs of one cluster)
    same = np.flatnonzero(np.einsum("ij,ij->i", vectors[:500], vectors[500:1000]) > 0.6)
    assert same.size
    assert np.all(decoder.sign_cosines(a[same], b[same]) <= law.sign_cosines(a[same],
                                                                             b[same]) + 1e-6)


def test_a_damaged_calibration_is_refused() -> None:
    import pytest

    from briefmin.quantize import SignCalibration

    good = {"x": [0.5, 0.9, 1.0], "y": [0.3, 0.85, 1.0]}
    assert SignCalibration.from_json(good).x == (0.5, 0.9, 1.0)
    for bad in ({"x": [0.9, 0.5, 1.0], "y": [0.3, 0.85, 1.0]},  # x not increasing
                {"x": [0.5, 0.9, 1.0], "y": [0.9, 0.85, 1.0]},  # not monotone
                {"x": [0.5, 0.9], "y": [0.3, 0.85]},  # does not end at (1, 1)
                {"x": [0.5, float("nan"), 1.0], "y": [0.3, 0.85, 1.0]},
                {"x": [0.5, 1.0], "y": [0.3]}, {"x": "0.5"}, [0.5]):
        with pytest.raises(ValueError):
            SignCalibration.from_json(bad)
