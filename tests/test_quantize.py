"""quantize.py: rescoring codes pack and unpack exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st


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
