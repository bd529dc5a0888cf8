"""The integer products dedupe's inverted file scores with: exact, on onnxruntime or numpy."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from briefmin import int8gemm


@pytest.fixture(params=["onnxruntime", "numpy"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    int8gemm.use_numpy(request.param == "numpy")
    yield str(request.param)
    int8gemm.use_numpy(False)


def codes(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-127, 128, (rows, 384), dtype=np.int8)


def test_dot_products_are_exact_at_the_extremes(backend: str) -> None:
    left, right = codes(300, 0), codes(200, 1)
    left[:5] = 127  # where 16-bit partial sums would overflow
    right[:5] = -127
    right[5:10] = 127
    want = left.astype(np.int64) @ right.T.astype(np.int64)
    # a scale of one: the float32 sums of int8 codes of 384 dimensions are exact integers
    got = int8gemm.scaled(left, int8gemm.transposed(right), np.ones(200, np.float32))
    assert got.dtype == np.float32 and np.array_equal(got, want)


def test_scaled_products_scale_each_column(backend: str) -> None:
    left, right = codes(50, 2), codes(70, 3)
    scale = np.linspace(0.001, 0.01, 70).astype(np.float32)
    want = (left.astype(np.float64) @ right.T.astype(np.float64)) * scale
    got = int8gemm.scaled(left, int8gemm.transposed(right), scale)
    assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6, atol=1e-4)


def _vnni() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


@pytest.mark.skipif(not _vnni(), reason="no VNNI: numpy's products are the expected path")
def test_a_vnni_machine_uses_onnxruntime() -> None:
    # these machines' CPUs (VNNI) pass the check: the fast path is the one measured
    int8gemm.use_numpy(False)
    int8gemm.scaled(codes(2, 4), int8gemm.transposed(codes(3, 5)), np.ones(3, np.float32))
    assert int8gemm._state["session"] is not None
