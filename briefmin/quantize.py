"""Vector codes: 1-bit binary codes for Hamming scans and int8 codes for rescoring.

Pure numpy. sentence_transformers.util.quantization does the same maths but importing it
imports torch, which the query path must never pay for."""

from __future__ import annotations

import base64
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
        return code_lengths(codes)


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
        return self.fixed_scale(np.asarray(vectors).shape[1])

    def fixed_scale(self, dim: int) -> Int8Scale:
        """The 4-bit scale: 15 levels clipped at 3 standard deviations of a unit vector's
        component (1/sqrt(dim)), which every model's unit vectors share, so it needs no
        calibration (and `tier` can re-quantize int8 codes to it without the model)."""
        return self.scale(3.0 / float(np.sqrt(dim)) / 7.0)

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


def code_lengths(codes: Int8Codes) -> Floats:
    """The length of each code row, in code units."""
    out = np.empty(len(codes), np.float32)
    for start in range(0, len(codes), 65536):
        block = codes[start:start + 65536].astype(np.float32)
        out[start:start + 65536] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return np.maximum(out, 1e-12)


@dataclass(frozen=True)
class BinaryDecoder:
    """Estimates a vector from its sign bits alone, for rows whose rescoring codes `tier`
    dropped; fitted on the archive's stored codes when rows are first tiered to binary.

    `decode`: per dimension, the mean value of the archive's vectors whose bit there is 0
    (`zero`) or 1 (`one`); means rather than +-1 keep each dimension's offset and spread
    (the embeddings are not centred). `estimate`: weight * decode + shift * mean, where
    `mean` is the archive's mean vector: a unit query's dot product with it estimates the
    query's cosine with the vector. A plain cosine with the decoded vector reads low (about
    0.8 x) and, because decoding keeps the common mean direction whole while it shrinks
    the rest, high for unrelated vectors; the two weights are fitted by least squares on
    pairs of the archive's own vectors (each against its 10 nearest and 10 random others),
    so no query is read."""

    zero: Floats
    one: Floats
    mean: Floats
    weight: float
    shift: float

    @classmethod
    def fit(cls, vectors: Floats, bits: Codes, seed: int = 0) -> BinaryDecoder:
        """From unit vectors and their packed sign bits (as `binary_codes` made them)."""
        dim = vectors.shape[1]
        signs = np.unpackbits(bits, axis=1)[:, :dim].astype(bool)
        ones = signs.sum(axis=0)
        one = np.where(signs, vectors, 0).sum(axis=0) / np.maximum(ones, 1)
        zero = np.where(signs, 0, vectors).sum(axis=0) / np.maximum(len(signs) - ones, 1)
        mean = vectors.mean(axis=0)
        plain = cls(zero.astype(np.float32), one.astype(np.float32), mean.astype(np.float32),
                    1.0, 0.0)
        weight, shift = plain._calibrate(vectors, plain.decode(bits), seed)
        return cls(plain.zero, plain.one, plain.mean, weight, shift)

    def _calibrate(self, vectors: Floats, decoded: Floats, seed: int) -> tuple[float, float]:
        rng = np.random.default_rng(seed)
        n = len(vectors)
        if n < 3:
            return 1.0, 0.0
        pool = rng.choice(n, min(n, 20_000), replace=False)
        queries = pool[rng.choice(len(pool), min(len(pool), 1000), replace=False)]
        sims = vectors[queries] @ vectors[pool].T
        sims[queries[:, None] == pool[None, :]] = -np.inf  # not itself
        near = min(10, len(pool) - 1)
        nearest = pool[np.argpartition(-sims, near - 1, axis=1)[:, :near]]
        others = pool[rng.integers(0, len(pool), (len(queries), near))]
        i = np.repeat(queries, 2 * near)
        j = np.concatenate([nearest, others], axis=1).reshape(-1)
        target = np.einsum("ij,ij->i", vectors[i], vectors[j])
        features = np.column_stack([np.einsum("ij,ij->i", vectors[i], decoded[j]),
                                    vectors[i] @ self.mean])
        (weight, shift), *_ = np.linalg.lstsq(features, target, rcond=None)
        return float(weight), float(shift)

    def decode(self, bits: Codes) -> Floats:
        """The per-dimension means behind packed sign bits."""
        dim = len(self.zero)
        signs = np.unpackbits(np.asarray(bits, np.uint8), axis=1)[:, :dim].astype(bool)
        out: Floats = np.where(signs, self.one, self.zero).astype(np.float32)
        return out

    def estimate(self, bits: Codes) -> Floats:
        """Vectors whose dot product with a unit query estimates its cosine with the vectors
        behind these sign bits (not unit length)."""
        out: Floats = (np.float32(self.weight) * self.decode(bits)
                       + np.float32(self.shift) * self.mean).astype(np.float32)
        return out

    def sign_cosines(self, a: Codes, b: Codes) -> Floats:
        """Cosines between the vectors behind two lists of sign bits (pairwise): the cosine
        of their decoded vectors read through the sign-correlation law of Gaussian vectors,
        cos = sin(pi/2 * r). Calibrating each side as `estimate` does would count the
        rounding of both sign patterns twice and read far too high."""
        da, db = self.decode(a), self.decode(b)
        r = np.einsum("ij,ij->i", da, db) / np.maximum(
            np.linalg.norm(da, axis=1) * np.linalg.norm(db, axis=1), 1e-12)
        out: Floats = np.sin(np.float32(np.pi / 2) * np.clip(r, -1.0, 1.0)).astype(np.float32)
        return out

    def to_json(self) -> dict[str, object]:
        """float32 little-endian in base64: 6 KB at 384 dimensions (JSON numbers: ~22 KB)."""
        return {"zero": _b64(self.zero), "one": _b64(self.one), "mean": _b64(self.mean),
                "weight": self.weight, "shift": self.shift}

    @classmethod
    def from_json(cls, value: object) -> BinaryDecoder:
        if not isinstance(value, dict):
            raise ValueError("binary decoder is not an object")
        zero, one, mean = (np.frombuffer(base64.b64decode(value[key], validate=True), "<f4")
                           for key in ("zero", "one", "mean"))
        weight, shift = float(value["weight"]), float(value["shift"])
        if zero.ndim != 1 or not zero.shape == one.shape == mean.shape:
            raise ValueError("binary decoder has damaged values")
        return cls(zero, one, mean, weight, shift)


def _b64(values: Floats) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode("ascii")
