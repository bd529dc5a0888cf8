"""Model ids as an archive records them: names and variants only, no model code, so the store
can check an archive's model without importing the encoder."""

from __future__ import annotations

import os

BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"
HASHING_PREFIX = "hashing:"  # a model-free bag-of-words encoder, for plumbing tests only
CHUNK_OVERLAP_TOKENS = 32
# `MODEL#int8`: the model's weights quantized to int8 (ONNX Runtime dynamic quantization),
# ~1.4x faster to encode than fp32 ONNX (1.37x measured); recorded in the archive's model
# id, so queries use it too
INT8_SUFFIX = "#int8"
# `add --ray`: texts per actor call: one encode_briefs call sorts their chunks by length
# (little padding), and an actor that dies loses at most this much work (Ray retries the call).
# Here, not in distributed.py, so the CLI can show the default without importing the encoder.
RAY_BATCH_BRIEFS = 256


def split_variant(model_id: str) -> tuple[str, bool]:
    """(the model without its variant, whether the int8 variant is asked for)."""
    if model_id.endswith(INT8_SUFFIX):
        return model_id.removesuffix(INT8_SUFFIX), True
    return model_id, False


def normalize_model_id(name: str | None) -> str:
    """The id recorded in an archive: the bundled model by a portable name, a folder by its
    absolute path, a hub name as given; the #int8 variant suffix kept."""
    base, int8 = split_variant(name or BUNDLED_MODEL)
    suffix = INT8_SUFFIX if int8 else ""
    if base in (BUNDLED_MODEL, "all-MiniLM-L6-v2"):
        return BUNDLED_MODEL + suffix
    if base.startswith(HASHING_PREFIX):
        return base
    return (os.path.abspath(base) if os.path.isdir(base) else base) + suffix
