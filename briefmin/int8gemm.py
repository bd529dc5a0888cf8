"""Products of int8 codes on onnxruntime's integer matrix multiply.

dedupe's inverted file scores every code against ~11k list centres and against the codes of
the lists it probes: ~3.5e10 dot products of 384 int8 values at a million briefs. numpy has
no integer BLAS, so it scores them as float32 after a conversion (12-20 ns a score on these
machines, one core), where onnxruntime's MatMulIntegerToFloat (MLAS's uint8 x int8 kernels,
VNNI where the CPU has it; each column's scale applied as it writes) takes 3-4 ns, and its
integer sums are exact, as float32's are for int8 codes of 384 dimensions. onnxruntime is a
dependency already (the query path), so this costs no new package; faiss was measured
slower for this work (nearpairs.py).

The left operand goes in as uint8 (code + 128) with a zero point of 128: MLAS's int8 x int8
kernel is ten times slower here. Some CPUs' uint8 x int8 kernel (AVX2 without VNNI) sums
pairs of products in 16 bits, which extreme codes overflow, so the first use checks one
product of extreme codes against numpy's; if they differ, every product is numpy's float32
one (the same numbers, slower)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from .quantize import Floats, Int8Codes

_lock = threading.Lock()
# the onnxruntime session, once made and checked; None: products through numpy
_state: dict[str, Any] = {}
_ZERO = np.array(128, np.uint8)


def scaled(left: Int8Codes, right_t: Int8Codes, column_scale: Floats) -> Floats:
    """left (rows x d) times right_t (d x columns), times column_scale[c] for column c, as
    float32: the integer dot products are exact, the scaling happens inside the product's
    output loop."""
    session = _session()
    if session is None:
        out: Floats = (left.astype(np.float32) @ right_t.astype(np.float32)) * column_scale
        return out
    result: Floats = session.run(None, {"A": _shifted(left), "B": right_t,
                                        "S": np.ones(1, np.float32),
                                        "T": np.ascontiguousarray(column_scale, np.float32),
                                        "Z": _ZERO})[0]
    return result


def transposed(codes: Int8Codes) -> Int8Codes:
    """Codes as the right operand wants them: d x rows, contiguous."""
    out: Int8Codes = np.ascontiguousarray(codes.T)
    return out


def use_numpy(on: bool = True) -> None:
    """Score with numpy's float32 products from now on (or, off, check onnxruntime again):
    for tests of the fallback and for measuring the two side by side."""
    with _lock:
        _state.clear()
        if on:
            _state["session"] = None


def _shifted(left: Int8Codes) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[np.uint8] = np.ascontiguousarray(left).view(np.uint8) ^ np.uint8(0x80)
    return out


def _session() -> Any:
    """The checked onnxruntime session, or None when products go through numpy."""
    if "session" in _state:
        return _state["session"]
    with _lock:
        if "session" not in _state:
            try:
                made = _make()
                exact = _exact(made)
            except Exception:  # no usable onnxruntime kernel: numpy scores the same
                made, exact = None, False
            _state["session"] = made if exact else None
        return _state["session"]


def _make() -> Any:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("A", TensorProto.UINT8, [None, None]),
              helper.make_tensor_value_info("B", TensorProto.INT8, [None, None]),
              helper.make_tensor_value_info("S", TensorProto.FLOAT, [1]),
              helper.make_tensor_value_info("T", TensorProto.FLOAT, [None]),
              helper.make_tensor_value_info("Z", TensorProto.UINT8, [])]
    node = helper.make_node("MatMulIntegerToFloat", ["A", "B", "S", "T", "Z"], ["Y"],
                            domain="com.microsoft")
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, None])
    model = helper.make_model(helper.make_graph([node], "scaled", inputs, [out]),
                              opset_imports=[helper.make_opsetid("", 13),
                                             helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    options = ort.SessionOptions()
    # one thread a call: the callers run their own threads, one a core
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def _exact(session: Any) -> bool:
    """Whether the session's products of extreme codes (where 16-bit partial sums overflow)
    equal numpy's, each column scaled."""
    rng = np.random.default_rng(0)
    left = rng.choice(np.array([-127, -1, 0, 1, 127], np.int8), (64, 384))
    left[:8] = 127
    right_t = rng.choice(np.array([-127, -1, 0, 1, 127], np.int8), (384, 48))
    right_t[:, :8] = 127
    right_t[:, 8:16] = -127
    want = left.astype(np.int64) @ right_t.astype(np.int64)
    scale = np.linspace(0.5, 2.0, 48).astype(np.float32)
    got = session.run(None, {"A": _shifted(left), "B": right_t, "S": np.ones(1, np.float32),
                             "T": scale, "Z": _ZERO})[0]
    return bool(np.allclose(got, want * scale, rtol=1e-6, atol=1e-3))
