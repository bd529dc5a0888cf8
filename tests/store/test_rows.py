"""rows.py: a row's checksum (part of the file format) is the same from the per-type fast
path as from the general rule it was written as."""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin.store import rows


# the checksum as format 4 defined it: one update per cell, by isinstance
def _reference_sum(table: str, values: Sequence[Any]) -> int:
    h = hashlib.blake2b(table.encode(), digest_size=rows.SUM_BYTES.get(table, 8))
    for value in values:
        if value is None:
            h.update(b"n")
        elif isinstance(value, int):
            h.update(b"i" + struct.pack("<q", value) if -(1 << 63) <= value < 1 << 63
                     else b"I" + str(value).encode())
        elif isinstance(value, float):
            h.update(b"f" + struct.pack("<d", value))
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            h.update(b"t" + struct.pack("<q", len(data)) + data)
        else:
            data = bytes(value)
            h.update(b"b" + struct.pack("<q", len(data)) + data)
    return int.from_bytes(h.digest(), "little", signed=True)


class _Kind(enum.IntEnum):
    TEXT = 3


class _Name(str):
    pass


CELLS = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70),
    st.sampled_from([-(1 << 63), (1 << 63) - 1, 1 << 63, -(1 << 63) - 1, _Kind.TEXT]),
    st.floats(allow_nan=True), st.text(st.characters(exclude_categories=())),
    st.text().map(_Name), st.binary(), st.binary().map(bytearray), st.binary().map(memoryview))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([*rows.COLUMNS, "other"]), st.lists(CELLS, max_size=12))
def test_row_sum_equals_the_format_rule(table: str, values: list[Any]) -> None:
    assert rows.row_sum(table, values) == _reference_sum(table, values)


def test_row_sum_tells_tables_and_values_apart() -> None:
    row = (7, "notes/a.md", 1, 7, 1, 0)
    assert rows.row_sum("briefs", row) != rows.row_sum("contents", row)
    assert rows.row_sum("briefs", row) != rows.row_sum("briefs", (7, "notes/a.md", 2, 7, 1, 0))
    assert rows.row_sum("briefs", (1,)) != rows.row_sum("briefs", (b"\x01",))
