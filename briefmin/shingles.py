"""Lexical near pairs: briefs whose word shingles overlap by a Jaccard index at or above a
threshold, from their text alone (no model).

A brief's shingles are its runs of SHINGLE_WORDS consecutive words (casefolded word characters,
so re-wrapping, punctuation and case do not count; each Chinese or Japanese letter is a word,
briefmin.cjk), each hashed to 32 bits. Candidates come from
MinHash signatures by banding (LSH) and every candidate is confirmed with the exact Jaccard
index of the two shingle sets, so a reported pair is never an estimate.

Signatures are one-permutation hashing (OPH) with rotation densification (Shrivastava & Li,
2014), in numpy: one hash per shingle, the hash's top bits pick one of SIGNATURE_BINS bins and
each bin keeps its smallest hash; an empty bin borrows from the next non-empty bin to its right.
That is O(shingles) for the whole corpus (one sort), where classic MinHash (datasketch) costs
O(shingles x permutations) and a Python call per brief: on 20,000 Debian descriptions
datasketch's `MinHash.update_batch` with 128 permutations took several times longer than this
module's whole pair search (bench/bench_dedupe.py measures both in one run)."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from . import cjk
from .nearpairs import Pairs, key_pair_chunks, ranges

Ints = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

SHINGLE_WORDS = 3  # see README, "How the default thresholds were chosen"
SIGNATURE_BINS = 128
LSH_RECALL = 0.995  # chance that a pair exactly at the threshold shares at least one band
# candidate pairs filtered at a time: each takes about a dozen int64 temporaries in
# key_pair_chunks and _plausible (4M pairs at a time made a 0.7 GB transient peak)
LEXICAL_PAIR_CHUNK = 1 << 20
# briefs whose signatures are made at a time: _densify takes about 9 KB of int64 temporaries
# per brief (65,536 at a time made a 0.7 GB transient peak)
SIGNATURE_CHUNK = 8192
ESTIMATE_SIGMAS = 4.5  # candidates whose bins agree this far below the threshold are dropped
# a word: letters and digits with the marks written on them. Python's `\w` holds no mark
# (Mn, Mc), so Hindi's vowel signs split a word into its consonants (हिन्दी into ह न द);
# the regex package's Unicode classes say it in one line where `re` would need a table of
# 299 ranges. Thai, Lao, Khmer and Myanmar put no spaces between words: each letter with
# its marks is a word there, as each CJK letter is
_UNSPACED = r"\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_UNSPACED_LETTER = rf"[{_UNSPACED}]\p{{M}}*"
_WORD = rf"{_UNSPACED_LETTER}|(?:(?![{_UNSPACED}])[\p{{L}}\p{{N}}_\p{{M}}])+"
_BIN_BITS = int(math.log2(SIGNATURE_BINS))
_VALUE_BITS = 32 - _BIN_BITS
_MIX = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint32(0xFFFFFFFF)


@dataclass(frozen=True)
class Shingles:
    """The sorted distinct shingle hashes of many briefs, one after the other (brief k holds
    hashes[offsets[k]:offsets[k + 1]])."""

    hashes: U32
    offsets: Ints

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def of(self, k: int) -> U32:
        out: U32 = self.hashes[self.offsets[k]:self.offsets[k + 1]]
        return out

    def jaccard(self, a: int, b: int) -> float:
        """Exact Jaccard index of two briefs' shingle sets (0 when both are empty)."""
        x, y = self.of(a), self.of(b)
        if not len(x) and not len(y):
            return 0.0
        common = len(np.intersect1d(x, y, assume_unique=True))
        return common / (len(x) + len(y) - common)

    def jaccards(self, i: Ints, j: Ints, chunk: int = 1 << 22) -> npt.NDArray[np.float32]:
        """Exact Jaccard index of many pairs at once."""
        out: npt.NDArray[np.float32] = self.jaccard_ratios(i, j, chunk).astype(np.float32)
        return out

    def jaccard_ratios(self, i: Ints, j: Ints, chunk: int = 1 << 22
                       ) -> npt.NDArray[np.float64]:
        """`jaccards` in float64: for each pair the very float `jaccard` gives it (a
        correctly rounded division of the same two counts; 0 when both are empty)."""
        sizes = np.diff(self.offsets)
        common = self.commons(i, j, chunk)
        union = sizes[i] + sizes[j] - common
        out: npt.NDArray[np.float64] = np.where(union > 0, common / np.maximum(union, 1), 0.0)
        return out

    def own(self, i: Ints, j: Ints) -> tuple[Ints, Ints]:
        """Per pair, the shingles only brief i holds and those only brief j holds: a small
        edit (a word fixed, a sentence added, paragraphs swapped) keeps both small however
        long the briefs are, while two briefs from one template (a name changed throughout)
        differ at every place the name occurs, on both sides."""
        sizes = np.diff(self.offsets)
        common = self.commons(i, j)
        return sizes[i] - common, sizes[j] - common

    def commons(self, i: Ints, j: Ints, chunk: int = 1 << 22) -> Ints:
        """The shingles each pair shares: each pair's two shingle lists tagged with the pair's
        number, sorted together; a hash seen twice in one pair is shared."""
        sizes = np.diff(self.offsets)
        out = np.zeros(len(i), np.int64)
        per_pair = sizes[i] + sizes[j]
        start = 0
        while start < len(i):
            # pairs in chunks of about `chunk` hashes, for bounded memory
            end = start + max(1, int(np.searchsorted(np.cumsum(per_pair[start:]), chunk)))
            a, b = i[start:end], j[start:end]
            tag = np.arange(len(a), dtype=np.uint64) << np.uint64(32)
            both = np.concatenate([
                np.repeat(tag, sizes[a]) | self.hashes[ranges(self.offsets[a], sizes[a])],
                np.repeat(tag, sizes[b]) | self.hashes[ranges(self.offsets[b], sizes[b])]])
            both.sort()
            twice = both[1:][both[1:] == both[:-1]] >> np.uint64(32)
            out[start:end] = np.bincount(twice.astype(np.int64), minlength=len(a))
            start = end
        return out

    def held_by(self, rows: Ints, least: int, chunk: int = 1 << 22) -> U32:
        """The shingles of these rows that at least `least` briefs hold (sorted): their
        document frequency is counted over every brief, but only for the rows' own shingles,
        so the cost is one pass over the hashes, `chunk` at a time (a lookup in a table of
        2**20 hash prefixes, 1 MB that stays in cache, lets through about |their shingles| /
        2**20 of the others to a binary search: 5x faster than a 16 MB table), not a sort of
        all."""
        mine = np.unique(self.hashes[ranges(self.offsets[rows], np.diff(self.offsets)[rows])])
        if least <= 1 or not len(mine):
            return mine
        out: U32 = mine[self.frequencies(mine, len(self.offsets) - 1, chunk) >= least]
        return out

    def frequencies(self, mine: U32, among: int, chunk: int = 1 << 22) -> Ints:
        """How many of the first `among` briefs hold each of these shingles (sorted, unique):
        one pass over their hashes, as `held_by` counts."""
        seen = np.zeros(1 << 20, bool)
        seen[mine >> np.uint32(12)] = True
        frequency = np.zeros(len(mine), np.int64)
        end = int(self.offsets[among])
        for start in range(0, end, chunk):
            part = self.hashes[start:min(start + chunk, end)]
            maybe = part[seen[part >> np.uint32(12)]]
            at = np.searchsorted(mine, maybe)
            at[at == len(mine)] = 0
            hit = mine[at] == maybe  # a brief holds a hash once: occurrences are briefs
            frequency += np.bincount(at[hit], minlength=len(mine))
        return frequency

    def without(self, rows: Ints, dropped: U32) -> Shingles:
        """The shingles of these rows (in this order) but those in `dropped` (sorted)."""
        sizes = np.diff(self.offsets)[rows]
        hashes = self.hashes[ranges(self.offsets[rows], sizes)]
        keep = ~np.isin(hashes, dropped, assume_unique=False, kind="sort") if len(dropped) \
            else np.ones(len(hashes), bool)
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), sizes)
        kept = np.bincount(owner[keep], minlength=len(rows)).astype(np.int64)
        return Shingles(hashes[keep], np.r_[0, np.cumsum(kept)].astype(np.int64))


def shingle(texts: Iterable[str | bytes], words: int = SHINGLE_WORDS, chunk: int = 8192,
            chunk_bytes: int = 1 << 22) -> Shingles:
    """The shingles of each text, `chunk` texts (or about `chunk_bytes` bytes) at a time, so
    memory stays bounded at a million briefs. A text is a str, or the stored bytes of a brief
    (decoded as the encoder decodes them, `text.decode_text`, when they are not ASCII)."""
    parts: list[Shingles] = []
    batch: list[bytes] = []
    scratch = _Scratch()
    size = 0
    for text in texts:
        batch.append(word_bytes(text))
        size += len(batch[-1])
        if len(batch) == chunk or size >= chunk_bytes:
            parts.append(_shingle_batch(batch, words, scratch))
            batch, size = [], 0
    if batch or not parts:
        parts.append(_shingle_batch(batch, words, scratch))
    ends = np.cumsum([len(p.hashes) for p in parts])
    offsets = [np.zeros(1, np.int64)] + [p.offsets[1:] + end - len(p.hashes)
                                         for p, end in zip(parts, ends, strict=True)]
    return Shingles(np.concatenate([p.hashes for p in parts]), np.concatenate(offsets))


def word_bytes(text: str | bytes) -> bytes:
    """A text's casefolded UTF-8 bytes in which the runs of word bytes (_WORD_BYTES) are
    exactly its words (`words`). ASCII text (nearly every brief) is only lowercased, at C
    speed; any other text comes back as its words joined by spaces, so a non-ASCII space,
    dash or quotation mark still splits words (treating every byte >= 0x80 as a word byte
    would glue a word, a curly apostrophe (U+2019) and the next word into one word)."""
    if isinstance(text, bytes):
        if text.isascii():
            return text.lower()  # ASCII: lower() is casefold(), [A-Za-z0-9_] is \\w
        from .text import decode_text

        text = decode_text(text)[0]
    if text.isascii():
        return text.encode("ascii").lower()
    return " ".join(words(text)).encode("utf-8", "surrogatepass")


def words(text: str) -> list[str]:
    """The casefolded words of a text (`_WORD`). Each Chinese or Japanese letter is a word
    (cjk.spaced): their words are not spaced, and a run of them up to the next punctuation
    made one word of a whole clause. NFC first, so that a text written decomposed (NFD: e
    and U+0301) has the words of its composed copy."""
    text = cjk.spaced(unicodedata.normalize("NFC", text).casefold())
    if text.isascii():
        return _SIMPLE_WORD.findall(text)
    marked, pattern = _word_patterns()
    # most texts hold no mark and no unspaced letter: `re` finds their words 3x faster
    return (pattern if marked.search(text) else _SIMPLE_WORD).findall(text)


_SIMPLE_WORD = re.compile(r"\w+")  # what _WORD matches in text without marks or _UNSPACED


@functools.cache
def _word_patterns() -> tuple[Any, Any]:
    """(what makes a text need `_WORD`, `_WORD`), compiled (the regex package takes 23 ms
    to import: only for text that is not ASCII)."""
    import regex

    return regex.compile(rf"[\p{{M}}{_UNSPACED}]"), regex.compile(_WORD)


# the bytes a word is made of: ASCII letters, digits and "_" (what `\w` matches in ASCII),
# and every byte of a multi-byte UTF-8 character (word_bytes leaves only word characters there)
_WORD_BYTES = np.zeros(256, bool)
_WORD_BYTES[[*range(48, 58), *range(65, 91), 95, *range(97, 123), *range(128, 256)]] = True
class _Scratch:
    """A uint64 buffer reused by every batch of one `shingle` call, grown when needed."""

    def __init__(self) -> None:
        self._buffer = np.empty(0, np.uint64)

    def uint64(self, n: int) -> npt.NDArray[np.uint64]:
        if len(self._buffer) < n:
            self._buffer = np.empty(n, np.uint64)
        return self._buffer[:n]


_WORD_PRIME = 0x100000001B3  # FNV's 64-bit prime: odd, so invertible modulo 2**64
_POWERS_CACHED = 1 << 23  # bytes of batch the power tables are kept for (2 x 64 MB)
_POWERS_MADE = 5 << 20  # their least size: a batch of `shingle`'s 4 MB and one more brief
_powers: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]] | None = None


def _power_tables(n: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """_WORD_PRIME**i and its inverse**i modulo 2**64 for i < n (at least n; kept for
    batches up to _POWERS_CACHED bytes, made afresh for a larger one)."""
    global _powers
    if _powers is not None and len(_powers[0]) >= n:
        return _powers
    size = max(n, _POWERS_MADE)
    tables = []
    for base in (_WORD_PRIME, pow(_WORD_PRIME, -1, 1 << 64)):
        table = np.full(size, base, np.uint64)
        table[0] = 1
        tables.append(np.cumprod(table, dtype=np.uint64))  # wraps modulo 2**64, as meant
    made = (tables[0], tables[1])
    if size <= _POWERS_CACHED:
        _powers = made
    return made


def _word_hashes(batch: list[bytes], scratch: _Scratch) -> tuple[npt.NDArray[np.uint64], Ints]:
    """Every word of every text (word_bytes) hashed in numpy, and each text's word count.
    A word's hash is the polynomial sum of its bytes times _WORD_PRIME**i over the batch
    (one np.add.reduceat from each word's start), brought to the word's own start by the
    inverse power, mixed with its length and finalized: the same word has the same hash
    wherever it is. A Python call per word (dict of words, crc32) was most of the time."""
    joined = b"\n".join(batch)  # "\n" is no word byte: texts never run into each other
    data = np.frombuffer(joined, np.uint8)
    text_starts = np.cumsum([0] + [len(b) + 1 for b in batch[:-1]], dtype=np.int64)
    word = _WORD_BYTES[data]
    edges = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    if not len(starts):
        return np.zeros(0, np.uint64), np.zeros(len(batch), np.int64)
    lengths = np.flatnonzero(edges == -1) - starts
    powers, inverse = _power_tables(len(data))
    # the bytes between words add nothing to the word before them; the products go to a
    # buffer kept across batches (8 bytes a byte of text: a fresh array each batch was
    # mapped and faulted in afresh, system time)
    terms = np.multiply(data * word, powers[:len(data)], out=scratch.uint64(len(data)))
    sums = np.add.reduceat(terms, starts)
    sums *= inverse[starts]
    sums ^= lengths.astype(np.uint64) << np.uint64(56)
    hashes = _finalize(sums, in_place=True)
    owner = np.searchsorted(text_starts, starts, side="right") - 1
    return hashes, np.bincount(owner, minlength=len(batch)).astype(np.int64)


def _shingle_batch(batch: list[bytes], words: int, scratch: _Scratch) -> Shingles:
    """Word hashes combined by multiply-add in numpy; a text shorter than k words is one
    shingle of all its words. The hashes are the same in every run (no salt), so results do
    not change between runs."""
    flat, counts = _word_hashes(batch, scratch)
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64) if len(counts) else counts
    # a k-gram starts at every position with k - 1 words after it in the same text; a short
    # text has one gram starting at its first word covering all its words
    grams = np.maximum(counts - words + 1, np.minimum(counts, 1))
    first = ranges(starts, grams)
    width = np.repeat(np.minimum(counts, words), grams)
    mixed = np.zeros(len(first), np.uint64)
    for t in range(words):
        present = t < width
        if present.all():  # no text this short in the batch: in place, no selection
            mixed ^= flat[first + t]
            mixed *= _MIX
            mixed += np.uint64(t + 1)
            continue
        term = flat[np.where(present, first + t, 0)] if len(flat) else mixed
        mixed = np.where(present, (mixed ^ term) * _MIX + np.uint64(t + 1), mixed)
    hashes = _finalize(mixed, in_place=True)
    hashes >>= np.uint64(32)
    # distinct hashes per text, sorted: sort (text, hash) packed in one uint64
    packed = np.repeat(np.arange(len(counts), dtype=np.uint64), grams)
    packed <<= np.uint64(32)
    packed |= hashes
    packed.sort()
    packed = packed[np.r_[True, packed[1:] != packed[:-1]]] if len(packed) else packed
    text_of = (packed >> np.uint64(32)).astype(np.int64)
    offsets = np.searchsorted(text_of, np.arange(len(counts) + 1)).astype(np.int64)
    return Shingles((packed & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets)


def signatures(shingles: Shingles, chunk: int = SIGNATURE_CHUNK) -> U32:
    """One OPH signature of SIGNATURE_BINS uint32 per brief (all _EMPTY for a brief without
    words). Because the shingles are sorted per brief and a bin is a range of hash values, a
    bin's minimum is its first hash: no second sort is needed."""
    n = len(shingles)
    sig = np.full((n, SIGNATURE_BINS), _EMPTY, np.uint32)
    for start in range(0, n, chunk):
        sig[start:start + chunk] = _signature_block(shingles, start, min(n, start + chunk))
    return sig


def _signature_block(shingles: Shingles, start: int, end: int) -> U32:
    """The signatures of briefs start..end-1 (a chunk: the index arrays stay small; at a
    million briefs at once they were most of a 10 GiB peak)."""
    block = np.full((end - start, SIGNATURE_BINS), _EMPTY, np.uint32)
    lo, hi = int(shingles.offsets[start]), int(shingles.offsets[end])
    h = shingles.hashes[lo:hi]
    if not len(h):
        return block
    owner = np.repeat(np.arange(end - start, dtype=np.int64),
                      np.diff(shingles.offsets[start:end + 1]))
    flat = owner * SIGNATURE_BINS + (h >> np.uint32(_VALUE_BITS)).astype(np.int64)
    first = np.r_[True, flat[1:] != flat[:-1]]
    block.reshape(-1)[flat[first]] = h[first] & np.uint32((1 << _VALUE_BITS) - 1)
    return _densify(block)


def _band_keys(shingles: Shingles, rows: int, chunk: int = SIGNATURE_CHUNK
               ) -> tuple[U32, npt.NDArray[np.uint16]]:
    """Each brief's key in every band of `rows` bins (n x bands) and the low 16 bits of its
    signature (for `_plausible`), made chunk by chunk: the full uint32 signatures (512 MB at
    a million briefs) are never held."""
    n, bands = len(shingles), SIGNATURE_BINS // rows
    keys = np.zeros((n, bands), np.uint32)
    low = np.zeros((n, SIGNATURE_BINS), np.uint16)
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        sig = _signature_block(shingles, start, end)
        low[start:end] = sig  # the low 16 bits (uint32 -> uint16 keeps them)
        block = sig[:, :bands * rows].reshape(end - start, bands, rows).astype(np.uint64)
        key = np.zeros((end - start, bands), np.uint64)
        for c in range(rows):
            key = (key ^ block[:, :, c]) * _MIX
        keys[start:end] = key >> np.uint64(32)
    return keys, low


def _densify(sig: U32) -> U32:
    """Rotation densification: an empty bin takes the value of the next non-empty bin to its
    right (circularly) plus its distance times 2**_VALUE_BITS, so borrowed values never equal
    a bin's own values and two briefs agree on a borrowed bin with the chance of a real one.
    Bin positions are int16 and the sums uint32 (wrapping as the stored value does): a
    quarter of the memory traffic of int64 (it was most of the signatures' time)."""
    bins = sig.shape[1]
    empty = sig == _EMPTY
    if not empty.any():
        return sig
    none = np.int16(4 * bins)  # past every position: no non-empty bin
    position = np.arange(bins, dtype=np.int16)
    # next non-empty position at or after each bin, over the row written twice (circular)
    doubled = np.empty((len(sig), 2 * bins), np.int16)
    np.copyto(doubled[:, :bins], np.where(empty, none, position))
    np.copyto(doubled[:, bins:], np.where(empty, none, position + np.int16(bins)))
    nxt = np.minimum.accumulate(doubled[:, ::-1], axis=1)[:, ::-1][:, :bins]
    has = nxt < none
    source = np.take_along_axis(sig, (nxt % np.int16(bins)).astype(np.intp), axis=1)
    # an empty row (no shingle) borrows nothing: has is False all along it
    distance = (nxt - position).astype(np.uint32)
    filled = source + (distance << np.uint32(_VALUE_BITS))
    out: U32 = np.where(empty & has, filled, sig)
    return out


def band_rows(threshold: float, recall: float = LSH_RECALL) -> int:
    """Bins per band: the most (fewest chance candidates) that still find a pair at the
    threshold with the given recall from SIGNATURE_BINS // rows bands."""
    best = 1
    for rows in range(1, 17):
        bands = SIGNATURE_BINS // rows
        if 1.0 - (1.0 - threshold ** rows) ** bands >= recall:
            best = rows
    return best


def lexical_pairs(shingles: Shingles, threshold: float, *, max_run: int = 2048) -> Pairs:
    """Pairs (i < j) of briefs whose exact shingle Jaccard is ≥ threshold (`similarity` holds
    it): candidates from banded signatures, pre-filtered by the share of agreeing bins (an
    unbiased estimate of Jaccard), then confirmed exactly."""
    n = len(shingles)
    words = np.diff(shingles.offsets) > 0
    if n < 2 or words.sum() < 2:
        return Pairs.empty()
    rows = band_rows(threshold)
    sizes = np.diff(shingles.offsets)
    # the estimate compares the low 16 bits of each bin (half the memory traffic; a chance
    # agreement of 1 in 65,536 per bin changes no decision)
    band_keys, low = _band_keys(shingles, rows)
    # a brief without words collides with nothing
    lonely = np.arange(int((~words).sum()), dtype=np.uint32) * np.uint32(2654435761)
    both = np.zeros(0, np.int64)  # the pairs found so far, sorted, each once
    found: list[Ints] = []  # and those found since, not yet merged in
    waiting = 0
    for band in range(band_keys.shape[1]):
        keys = band_keys[:, band].copy()
        keys[~words] = lonely
        # candidates are filtered as they come, a piece at a time: in a corpus with large
        # families of similar briefs one band's raw candidates were GBs at a million briefs
        for i, j in key_pair_chunks(keys, max_run, chunk=LEXICAL_PAIR_CHUNK):
            i, j = _plausible(i, j, words, sizes, low, threshold)
            found.append(i * n + j)
            waiting += len(i)
        # the same pair from several bands is kept once: merged when the new ones are as
        # many as the merged (a sort of everything after every band was quadratic)
        if waiting >= max(len(both), LEXICAL_PAIR_CHUNK) or band == band_keys.shape[1] - 1:
            both, found, waiting = _merged([both, *found]), [], 0
    del band_keys, low
    i, j = both // n, both % n
    del both
    # the exact check counts shared shingles pair by pair (most of the time at a million
    # briefs, where ~1 candidate in 1,000 is a pair): first drop those that cannot share
    # enough, by a bound that is exact too
    reach = _may_reach(shingles, i, j, threshold)
    i, j = i[reach], j[reach]
    jac = shingles.jaccards(i, j)
    hit = jac >= np.float32(threshold)
    return Pairs(i[hit], j[hit], jac[hit])


def _may_reach(shingles: Shingles, i: Ints, j: Ints, threshold: float,
               chunk: int = 65536) -> npt.NDArray[np.bool_]:
    """False for the pairs whose Jaccard is surely below the threshold: two briefs share at
    most, in each of the SIGNATURE_BINS ranges of hash values, as many shingles as the one
    with fewer there holds, so the sum of those minima bounds what they share, and the
    Jaccard worked out from that bound (as `Shingles.jaccards` works it out) bounds
    theirs. A brief with 255 or more shingles in one range is not bounded (uint8 counts)."""
    counts, full = _bin_counts(shingles)
    sizes = np.diff(shingles.offsets)
    out = np.ones(len(i), bool)
    for start in range(0, len(i), chunk):
        a, b = i[start:start + chunk], j[start:start + chunk]
        most = np.minimum(counts[a], counts[b]).sum(axis=1, dtype=np.int64)
        union = sizes[a] + sizes[b] - most
        bound = np.where(union > 0, most / np.maximum(union, 1), 0.0).astype(np.float32)
        out[start:start + chunk] = (bound >= np.float32(threshold)) | full[a] | full[b]
    return out


def _bin_counts(shingles: Shingles, chunk: int = SIGNATURE_CHUNK
                ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """Each brief's count of shingles in each of the SIGNATURE_BINS ranges of hash values
    (the signatures' bins; at most 255, uint8: 128 MB at a million briefs), and whether
    any range of it held 255 or more."""
    n = len(shingles)
    counts = np.zeros((n, SIGNATURE_BINS), np.uint8)
    full = np.zeros(n, bool)
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        lo, hi = int(shingles.offsets[start]), int(shingles.offsets[end])
        owner = np.repeat(np.arange(end - start, dtype=np.int64),
                          np.diff(shingles.offsets[start:end + 1]))
        flat = owner * SIGNATURE_BINS + (shingles.hashes[lo:hi] >> np.uint32(_VALUE_BITS))
        block = np.bincount(flat, minlength=(end - start) * SIGNATURE_BINS).reshape(
            end - start, SIGNATURE_BINS)
        full[start:end] = (block >= 255).any(axis=1)
        counts[start:end] = np.minimum(block, 255)
    return counts, full


def _merged(parts: list[Ints]) -> Ints:
    """The values of all parts, sorted, each once."""
    both = np.concatenate(parts)
    both.sort()  # np.unique's hash table was 10x slower than a sort here (numpy 2.4)
    out: Ints = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both
    return out


def _plausible(i: Ints, j: Ints, words: npt.NDArray[np.bool_], sizes: Ints,
               low: npt.NDArray[np.uint16], threshold: float) -> tuple[Ints, Ints]:
    """The candidate pairs that may reach the threshold: both briefs have words; the set sizes
    allow it (Jaccard is at most their ratio: exact, and nearly free, so it goes first); and
    their signatures agree on enough bins (an unbiased estimate of Jaccard whose spread grows
    as briefs get shorter: a brief of 20 shingles fills 128 bins from 20 values, so the
    margin is ESTIMATE_SIGMAS standard deviations over the shingles there are)."""
    keep = words[i] & words[j]
    i, j = i[keep], j[keep]
    small, large = np.minimum(sizes[i], sizes[j]), np.maximum(sizes[i], sizes[j])
    fits = small >= threshold * large
    i, j, small = i[fits], j[fits], small[fits]
    agree = np.zeros(len(i), np.float32)
    for start in range(0, len(i), 65536):
        a, b = i[start:start + 65536], j[start:start + 65536]
        agree[start:start + 65536] = np.count_nonzero(low[a] == low[b], axis=1)
    agree /= SIGNATURE_BINS
    spread = np.sqrt(threshold * (1 - threshold) / np.minimum(small, SIGNATURE_BINS))
    close = agree >= threshold - ESTIMATE_SIGMAS * spread
    return i[close], j[close]


def _finalize(x: npt.NDArray[np.uint64], in_place: bool = False) -> npt.NDArray[np.uint64]:
    """splitmix64's finalizer: every input bit reaches every output bit. `in_place`
    overwrites x (one temporary instead of six)."""
    out = x if in_place else x.copy()
    shifted = out >> np.uint64(30)
    out ^= shifted
    out *= np.uint64(0xBF58476D1CE4E5B9)
    np.right_shift(out, np.uint64(27), out=shifted)
    out ^= shifted
    out *= np.uint64(0x94D049BB133111EB)
    np.right_shift(out, np.uint64(31), out=shifted)
    out ^= shifted
    return out
