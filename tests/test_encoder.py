"""encoder.py: the hashing encoder's shortcuts (one-window chunking, the whole batch hashed at
once, ASCII texts without the regex) give exactly what the general per-text path gives:
existing hashing archives get new briefs added, so their vectors must not change. And a model
that cannot be had fails fast."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin.encoder import (
    EncodedBrief,
    HashingEncoder,
    _ascii_windows,
    chunk_spans,
    encode_briefs,
    hub_unreachable,
    normalize,
    word_spans,
)
from briefmin.text import decode_text

from .conftest import BRIEFS, run_briefmin

ENCODER = HashingEncoder("hashing:384")
# words, punctuation and every kind of space, including the unicode ones str.strip removes
PIECES = st.sampled_from(["word", "Ünïcode", "x_1", "42", ".", "—", "!?", " ", "\t", "\n",
                          "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f", "\x85", "\u200b"])


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=600) | st.text(max_size=400))
def test_chunks_equal_the_general_path(pieces: list[str] | str) -> None:
    text = pieces if isinstance(pieces, str) else "".join(pieces)
    assert ENCODER.chunks(text) == chunk_spans(word_spans(text), ENCODER.max_tokens)


def test_long_text_is_several_windows() -> None:
    text = " ".join(f"w{i}." for i in range(400))  # 800 tokens: more than one window
    spans = ENCODER.chunks(text)
    assert len(spans) > 1
    assert spans == chunk_spans(word_spans(text), ENCODER.max_tokens)
    assert [b.spans for b in encode_briefs(ENCODER, [text, "  short one  "])] == [
        spans, [(2, 11)]]


# the hashing encoder as it was before the batch path (9b61173): one text at a time, the
# words by the regex, np.add.at per text, each brief's mean and normalization on its own
def _reference_encode(texts: Sequence[str], dim: int) -> np.ndarray:
    out = np.zeros((len(texts), dim), np.float32)
    for row, text in enumerate(texts):
        hashes = np.fromiter(map(zlib.crc32, map(str.encode, re.findall(r"\w+", text.lower()))),
                             np.uint32)
        np.add.at(out[row], hashes % dim,
                  np.where((hashes >> 16) & 1, np.float32(1), np.float32(-1)))
        if not out[row].any():
            out[row, 0] = 1.0
    return normalize(out)


def _reference_briefs(texts: Sequence[str], dim: int) -> list[EncodedBrief]:
    all_spans = [chunk_spans(word_spans(t), HashingEncoder.max_tokens) for t in texts]
    flat = [t[a:b] for t, spans in zip(texts, all_spans, strict=True) for a, b in spans]
    vectors = _reference_encode(flat, dim) if flat else np.zeros((0, dim), np.float32)
    out, row = [], 0
    for spans in all_spans:
        chunk_vectors = vectors[row:row + len(spans)]
        row += len(spans)
        out.append(EncodedBrief(spans, chunk_vectors,
                                normalize(chunk_vectors.mean(axis=0)[None, :])[0]))
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ASCII words, punctuation and spaces (the fast path), letters whose lowering depends on
# their neighbours or changes length (final sigma, dotted I, sharp s, ligatures), other
# scripts, digits and marks; long lists make texts of several windows
TEXT_PIECES = st.sampled_from(["word", "Word", "WORD", "x_1", "42", "a", "I", ".", ",", "-",
                               "'", "(", ")", " ", "  ", "\t", "\n", "\x0b", "\x1c", "\x1f",
                               "\x7f", "\x00", "Σ", "ΑΣ", "ς", "İ", "ß", "ẞ", "ﬀ", "K", "Ünïcode",
                               "—", "\u00a0", "\u2003", "\u200b", "٣", "é", "e\u0301", "日本"])
TEXTS = st.lists(st.lists(TEXT_PIECES, max_size=700).map("".join) | st.text(max_size=300),
                 max_size=8)


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.sampled_from([8, 64, 384]))
def test_batch_vectors_equal_the_per_text_path(texts: list[str], dim: int) -> None:
    encoder = HashingEncoder(f"hashing:{dim}")
    got, want = encode_briefs(encoder, texts), _reference_briefs(texts, dim)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.spans == w.spans
        assert _same(g.chunk_vectors, w.chunk_vectors)
        assert _same(g.brief_vector, w.brief_vector)
    assert _same(encoder.encode(texts), _reference_encode(texts, dim))


def test_batch_vectors_of_real_briefs() -> None:
    # the fixture briefs (odd encodings among them), decoded as `add` decodes them
    texts = [decode_text(p.read_bytes())[0] for p in sorted(BRIEFS.rglob("*")) if p.is_file()]
    texts += [ " ".join(f"w{i}." for i in range(400)), "", " \n ", "ΑΣ ας"]
    got, want = encode_briefs(ENCODER, texts), _reference_briefs(texts, ENCODER.dim)
    assert any(len(b.spans) > 1 for b in want)
    assert all(g.spans == w.spans and _same(g.brief_vector, w.brief_vector)
               and _same(g.chunk_vectors, w.chunk_vectors)
               for g, w in zip(got, want, strict=True))


def test_every_ascii_character_at_the_window_edge() -> None:
    # whether a text is one window depends on what counts as a token: each ASCII character
    # twice after one token less, as many and one more than a window holds
    texts = [" ".join(["w"] * n) + f" {chr(c)}{chr(c)}" for c in range(128)
             for n in (ENCODER.max_tokens - 2, ENCODER.max_tokens - 1, ENCODER.max_tokens)]
    got, want = encode_briefs(ENCODER, texts), _reference_briefs(texts, ENCODER.dim)
    assert {len(b.spans) for b in want} == {1, 2}
    assert [g.spans for g in got] == [w.spans for w in want]
    assert all(_same(g.brief_vector, w.brief_vector) for g, w in zip(got, want, strict=True))


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(max_codepoint=127), max_size=300)
       | st.lists(st.sampled_from(["w", "Word", "x_1", "42", ".", "...", " ", "\t", "\x1c",
                                   "\x00", "\x7f"]), max_size=300).map("".join),
       st.sampled_from([1, 2, 33, 34, 40, 254]))
def test_ascii_windows_equal_the_regex_path(text: str, window: int) -> None:
    # windows of fewer tokens than the overlap step by one token
    assert _ascii_windows(text.encode(), window) == chunk_spans(word_spans(text), window)


def test_a_hub_model_fails_fast_when_the_hub_cannot_be_reached(tmp_path: Path) -> None:
    """`--model NAME` of a model neither on disk nor cached, with no way to the hub: one line
    and exit 6 at once. Before, huggingface_hub retried each file with back-off: 100 s and 18
    warnings before the error (the hub here: a port nothing listens on)."""
    brief = tmp_path / "a.md"
    brief.write_text("The rooftop garden is watered every morning at six.\n")
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0",
           "HF_HOME": str(tmp_path / "hf")}  # an empty cache
    started = time.monotonic()
    done = run_briefmin("add", tmp_path / "new.bmin", brief, "--model", "no-such-model-xyz",
                        env=env)
    elapsed = time.monotonic() - started
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 6 and len(lines) == 1, done.stderr
    assert "127.0.0.1 cannot be reached" in lines[0] and "no-such-model-xyz" in lines[0]
    assert not (tmp_path / "new.bmin").exists()
    assert elapsed < 30, elapsed  # the retries alone slept 69 s


def test_hub_unreachable_names_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert (hub_unreachable() or "").startswith("127.0.0.1 cannot be reached")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_unreachable() == "HF_HUB_OFFLINE is set"
