"""Vector codes: 1-bit binary codes for Hamming scans and int8 codes for rescoring.

Pure numpy. sentence_transformers.util.quantization does the same maths but importing it
imports torch, which the query path must never pay for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
Codes = npt.NDArray[np.uint8]
Int8Codes = npt.NDArray[np.int8]


def binary_codes(vectors: Floats) -> Codes:
    """One sign bit per dimension, packed; rows padded to whole 64-bit words for the scan."""
    bits = np.packbits(np.asarray(vectors) > 0, axis=-1)
    pad = (-bits.shape[-1]) % 8
    if pad:
        bits = np.pad(bits, [(0, 0)] * (bits.ndim - 1) + [(0, pad)])
    return np.ascontiguousarray(bits)


def hamming(query_code: Codes, codes: Codes, chunk: int = 32768) -> npt.NDArray[np.uint16]:
    """Hamming distance from one packed code to each row of `codes`.

    In chunks that stay in cache, adding the per-word counts column by column: a 1M-row
    scan takes ~15 ms instead of ~40 ms for one big XOR and `sum(axis=1)` over 6 words."""
    q = np.ascontiguousarray(query_code).view(np.uint64)
    c = np.ascontiguousarray(codes).view(np.uint64)
    distances = np.zeros(len(c), np.uint16)
    for start in range(0, len(c), chunk):
        counts = np.bitwise_count(c[start:start + chunk] ^ q)
        part = distances[start:start + chunk]
        for word in range(counts.shape[1]):
            part += counts[:, word]
    return distances


@dataclass(frozen=True)
class Int8Scale:
    """Symmetric scalar quantization: x ~ code * step, codes in [-peak, peak] (127 for int8
    codes, 7 for the small profile's 4-bit ones).

    One scale for every dimension keeps the calibration stable across incremental adds; for
    unit vectors of 384 dimensions the rounding costs ~1e-3 in cosine (see tests)."""

    step: float
    peak: int = 127

    @classmethod
    def calibrate(cls, vectors: Floats, margin: float = 1.25) -> Int8Scale:
        peak = float(np.abs(vectors).max()) if vectors.size else 0.0
        # a floor for tiny first batches, a ceiling because unit vectors never exceed 1
        limit = min(1.0, max(0.25, peak * margin))
        return cls(step=limit / 127.0)

    def encode(self, vectors: Floats) -> Int8Codes:
        scaled = np.rint(np.asarray(vectors, dtype=np.float32) / self.step)
        codes: Int8Codes = np.clip(scaled, -self.peak, self.peak).astype(np.int8)
        return codes

    def decode(self, codes: Int8Codes) -> Floats:
        return codes.astype(np.float32) * np.float32(self.step)

    def scores(self, query: Floats, codes: Int8Codes) -> Floats:
        """Cosine between a unit query and the unit vectors behind `codes`."""
        approx = self.decode(codes)
        scores: Floats = approx @ np.asarray(query, dtype=np.float32)
        return scores / (self.lengths(codes) * np.float32(self.step))

    def lengths(self, codes: Int8Codes) -> Floats:
        """What to divide a code by to get its unit vector (in code units). int8 codes: their
        own length. 4-bit codes: 1/step, the length of the unit vector behind them, because
        their rounding noise makes them ~1.5% longer on average, so dividing by their own
        length would read every cosine low (measured on the fixtures: -0.013 near 0.9,
        against +0.002 this way)."""
        if self.peak != 127:
            return np.full(len(codes), 1.0 / self.step, np.float32)
        out = np.empty(len(codes), np.float32)
        for start in range(0, len(codes), 65536):
            block = codes[start:start + 65536].astype(np.float32)
            out[start:start + 65536] = np.sqrt(np.einsum("ij,ij->i", block, block))
        return np.maximum(out, 1e-12)


@dataclass(frozen=True)
class RescoreCodes:
    """How an archive stores its rescoring codes: one int8 per dimension (8 bits, the default
    profile), or two 4-bit codes per byte (the small profile: half the bytes; in the search
    benchmark its recall@10 matched int8's). Either way readers get int8 arrays, so search and
    dedupe need not know which."""

    bits: int  # 8 or 4

    def row_bytes(self, dim: int) -> int:
        return dim * self.bits // 8

    def scale(self, step: float) -> Int8Scale:
        return Int8Scale(step, 127 if self.bits == 8 else 7)

    def calibrate(self, vectors: Floats) -> Int8Scale:
        if self.bits == 8:
            return Int8Scale.calibrate(vectors)
        # 15 levels: clip at 3 standard deviations of a unit vector's component (1/sqrt(dim)),
        # which every model's unit vectors share, so the first batch's content does not matter
        return self.scale(3.0 / float(np.sqrt(np.asarray(vectors).shape[1])) / 7.0)

    def pack(self, codes: Int8Codes) -> bytes:
        if self.bits == 8:
            return codes.tobytes()
        nibbles = (codes.astype(np.int16) + 8).astype(np.uint8)  # -7..7 -> 1..15
        return ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).tobytes()

    def unpack(self, blob: bytes, n: int, dim: int) -> Int8Codes:
        if self.bits == 8:
            codes: Int8Codes = np.frombuffer(blob, np.int8).reshape(n, dim)
            return codes
        packed = np.frombuffer(blob, np.uint8).reshape(n, self.row_bytes(dim))
        out: Int8Codes = np.empty((n, dim), np.int8)
        out[:, 0::2] = (packed >> 4).astype(np.int8) - 8
        out[:, 1::2] = (packed & 15).astype(np.int8) - 8
        return out
