"""Vector codes: 1-bit binary codes for Hamming scans and int8 codes for rescoring.

Pure numpy. sentence_transformers.util.quantization does the same maths but importing it
imports torch, which the query path must never pay for."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
Codes = npt.NDArray[np.uint8]
Int8Codes = npt.NDArray[np.int8]
Ints = npt.NDArray[np.int64]


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
    so no query is read.

    `calibration`: knots of a monotone piecewise-linear map from the sign-law cosine of two
    binary rows (`sign_cosines`) to their int8 cosine, fitted at the same time (decoders
    written before it have none and read the sign law as it is)."""

    zero: Floats
    one: Floats
    mean: Floats
    weight: float
    shift: float
    calibration: SignCalibration | None = None

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
        if len(vectors) < 3:
            return plain
        i, j = _neighbour_pairs(vectors, np.random.default_rng(seed), queries=1000)
        weight, shift = plain._calibrate(vectors, plain.decode(bits), i, j)
        return cls(plain.zero, plain.one, plain.mean, weight, shift).calibrated(
            vectors, bits, seed + 1)

    def calibrated(self, vectors: Floats, bits: Codes, seed: int = 1) -> BinaryDecoder:
        """This decoder with a `calibration` fitted on unit vectors and their sign bits (a
        decoder written before calibrations gets one the next time rows go binary)."""
        if len(vectors) < 3:
            return self
        # more queries than for the weights: the map needs pairs up to cosine 1, which are rare
        i, j = _neighbour_pairs(vectors, np.random.default_rng(seed), queries=4000)
        sign_law = dataclasses.replace(self, calibration=None).sign_cosines(bits[i], bits[j])
        calibration = sign_calibration(sign_law, np.einsum("ij,ij->i", vectors[i], vectors[j]))
        return dataclasses.replace(self, calibration=calibration)

    def _calibrate(self, vectors: Floats, decoded: Floats, i: Ints, j: Ints
                   ) -> tuple[float, float]:
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
        cos = sin(pi/2 * r), then through `calibration` when the decoder has one (the law
        alone reads high: +0.04 near cosine 0.85, +0.07 near 0.75 on Debian descriptions).
        Calibrating each side as `estimate` does would count the rounding of both sign
        patterns twice and read far too high."""
        da, db = self.decode(a), self.decode(b)
        r = np.einsum("ij,ij->i", da, db) / np.maximum(
            np.linalg.norm(da, axis=1) * np.linalg.norm(db, axis=1), 1e-12)
        out: Floats = np.sin(np.float32(np.pi / 2) * np.clip(r, -1.0, 1.0)).astype(np.float32)
        return out if self.calibration is None else self.calibration(out)

    def to_json(self) -> dict[str, object]:
        """float32 little-endian in base64: 6 KB at 384 dimensions (JSON numbers: ~22 KB)."""
        out: dict[str, object] = {"zero": _b64(self.zero), "one": _b64(self.one),
                                  "mean": _b64(self.mean), "weight": self.weight,
                                  "shift": self.shift}
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_json()
        return out

    @classmethod
    def from_json(cls, value: object) -> BinaryDecoder:
        if not isinstance(value, dict):
            raise ValueError("binary decoder is not an object")
        zero, one, mean = (np.frombuffer(base64.b64decode(value[key], validate=True), "<f4")
                           for key in ("zero", "one", "mean"))
        weight, shift = float(value["weight"]), float(value["shift"])
        if zero.ndim != 1 or not zero.shape == one.shape == mean.shape:
            raise ValueError("binary decoder has damaged values")
        calibration = (SignCalibration.from_json(value["calibration"])
                       if "calibration" in value else None)
        return cls(zero, one, mean, weight, shift, calibration)


# true-cosine bins whose pairs give the calibration's knots, finer where thresholds are set
_KNOT_EDGES = (-1.0, 0.3, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.925,
               0.95, 0.975, 1.0)
_KNOT_PAIRS = 30  # fewest pairs a bin needs to give a knot


@dataclass(frozen=True)
class SignCalibration:
    """A monotone piecewise-linear map, knots (x[k], y[k]) with x strictly increasing and y
    non-decreasing, ending at (1, 1): two rows with the same signs stay at cosine 1. Below
    the first knot it shifts by that knot's offset."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        x, y = np.asarray(self.x, np.float64), np.asarray(self.y, np.float64)
        if (len(x) < 2 or len(x) != len(y) or not np.all(np.isfinite(x))
                or not np.all(np.isfinite(y)) or np.any(np.diff(x) <= 0)
                or np.any(np.diff(y) < 0) or x[-1] != 1.0 or y[-1] != 1.0
                or x[0] < -1.0 or y[0] < -1.0):
            raise ValueError("binary decoder's calibration is not a monotone map to (1, 1)")

    def __call__(self, cosines: Floats) -> Floats:
        x = np.asarray(cosines, np.float64)
        mapped = np.interp(x, self.x, self.y)
        below = x < self.x[0]
        mapped[below] = x[below] + (self.y[0] - self.x[0])
        out: Floats = np.clip(mapped, -1.0, 1.0).astype(np.float32)
        return out

    def to_json(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}  # whole floats: rounding could tie knots

    @classmethod
    def from_json(cls, value: object) -> SignCalibration:
        if not isinstance(value, dict) or not all(
                isinstance(value.get(k), list) for k in ("x", "y")):
            raise ValueError("binary decoder's calibration is not an object of two lists")
        return cls(tuple(float(v) for v in value["x"]), tuple(float(v) for v in value["y"]))


def sign_calibration(sign_law: Floats, true: Floats) -> SignCalibration | None:
    """The map from sign-law cosines to true ones, from pairs of both: per bin of the TRUE
    cosine (so the pairs may be chosen by it, as nearest neighbours are), the mean sign-law
    cosine; pooled where those means do not increase; the map sends each mean back to its
    bin's mean true cosine. So a pair of true cosine c reads c on average (the law alone
    reads +0.04 near 0.85). None when too few pairs fill the bins."""
    xs: list[float] = []
    ys: list[float] = []
    counts: list[int] = []
    which = np.digitize(np.asarray(true, np.float64), _KNOT_EDGES[1:-1])
    for b in range(len(_KNOT_EDGES) - 1):
        hit = which == b
        if hit.sum() >= _KNOT_PAIRS:
            xs.append(float(np.mean(sign_law[hit])))
            ys.append(float(np.mean(true[hit])))
            counts.append(int(hit.sum()))
    # pool adjacent violators: neighbouring bins whose mean sign-law cosine does not rise
    k = 0
    while k + 1 < len(xs):
        if xs[k + 1] <= xs[k]:
            n = counts[k] + counts[k + 1]
            xs[k] = (xs[k] * counts[k] + xs[k + 1] * counts[k + 1]) / n
            ys[k] = (ys[k] * counts[k] + ys[k + 1] * counts[k + 1]) / n
            counts[k] = n
            del xs[k + 1], ys[k + 1], counts[k + 1]
            k = max(k - 1, 0)
        else:
            k += 1
    knots = [(x, y) for x, y in zip(xs, ys, strict=True) if x < 1.0 and y < 1.0]
    if not knots:
        return None
    x, y = zip(*knots, strict=True)
    return SignCalibration((*x, 1.0), tuple(np.maximum.accumulate([*y, 1.0]).tolist()))


def _neighbour_pairs(vectors: Floats, rng: np.random.Generator, queries: int
                     ) -> tuple[Ints, Ints]:
    """Pairs of rows for fitting: `queries` sampled rows each against its 10 nearest (by
    true cosine) and 10 random rows of a 20,000-row pool; nearest neighbours span the high
    cosines that thresholds are set in, random pairs the rest."""
    n = len(vectors)
    pool = rng.choice(n, min(n, 20_000), replace=False)
    chosen = pool[rng.choice(len(pool), min(len(pool), queries), replace=False)]
    near = min(10, len(pool) - 1)
    nearest = np.empty((len(chosen), near), np.int64)
    for start in range(0, len(chosen), 1000):  # 80 MB of similarities at a time
        block = chosen[start:start + 1000]
        sims = vectors[block] @ vectors[pool].T
        sims[block[:, None] == pool[None, :]] = -np.inf  # not itself
        nearest[start:start + 1000] = pool[np.argpartition(-sims, near - 1, axis=1)[:, :near]]
    others = pool[rng.integers(0, len(pool), (len(chosen), near))]
    i = np.repeat(chosen, 2 * near)
    j = np.concatenate([nearest, others], axis=1).reshape(-1)
    return i, j


def _b64(values: Floats) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode("ascii")
