"""The byte tokenizer of `shingles` and the byte path of the normalized-text key: the words
and keys of stored bytes are those of the decoded text, ASCII or not."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from briefmin.dedupe import (
    MAX_EDIT_SHINGLES,
    MAX_EDIT_TOTAL,
    small_edit,
    stored_text_key,
    text_key,
)
from briefmin.shingles import _bin_counts, _may_reach, shingle, word_bytes, words
from briefmin.text import decode_text

SAMPLES = [
    b"", b"   \n", b"One two, three-four: FIVE_six 7 8.9 (ten)!",
    "Caf\u00e9 CR\u00c8ME br\u00fbl\u00e9e na\u00efve STRASSE stra\u00dfe".encode(),
    "don\u2019t a\u2014b x\u00a0y \u201cquoted\u201d \u0130stanbul \u212a".encode(),
    "r\u00e9sum\u00e9 in cp1252".encode("cp1252"),  # not UTF-8: decoded as the encoder does
    "utf-16 text, with \u00e9".encode("utf-16"),
    b"\xef\xbb\xbfa byte-order mark then words",
    b"tabs\tand\x0bvertical\x0cfeeds\r\nand\x1cfile\x1dgroup\x1erecord\x1funit separators",
    "重启负载均衡器，检查ENG-2291的日志。ひらがなカタカナ".encode(),
    "हिन्दी भाषा में लिखा गया। कि की के को, தமிழ் மொழி, ภาษาไทยง่าย كَتَبَ الدَّرْسَ".encode(),
]

# runs of what the byte tokenizer reads as words
WORD_BYTES = re.compile(rb"[0-9A-Za-z_\x80-\xff]+")


def _regex_words(text: str) -> str:
    return " ".join(words(text))


def _random_ascii(rng: random.Random) -> bytes:
    pieces = ["alpha", "Beta", "GAMMA", "x_1", "42", "3.14", "a-b", "it's", "(c)", "_", "é"]
    seps = [" ", "  ", "\n", "\t", ", ", ". ", "--", "/", "\x1c", ""]
    return "".join(rng.choice(pieces) + rng.choice(seps)
                   for _ in range(rng.randrange(0, 40))).encode("utf-8")


def test_stored_bytes_give_the_words_of_their_decoded_text() -> None:
    rng = random.Random(0)
    texts = SAMPLES + [_random_ascii(rng) for _ in range(300)]
    decoded = [decode_text(t)[0] for t in texts]
    from_bytes, from_text = shingle(texts, chunk=7), shingle(decoded, chunk=5)
    # the words the regex finds, joined by single spaces: what the byte path must split into
    from_words = shingle([_regex_words(t) for t in decoded], chunk=11)
    for other in (from_text, from_words):
        assert from_bytes.offsets.tolist() == other.offsets.tolist()
        assert from_bytes.hashes.tolist() == other.hashes.tolist()
    assert len(from_bytes.of(0)) == 0 and len(from_bytes.of(3)) > 0


@pytest.mark.parametrize(("a", "b"), [
    ("don\u2019t stop me now", "don t stop me now"),  # a curly apostrophe splits words
    ("a\u2014b c d", "a b c d"),
    ("CAF\u00c9 cr\u00e8me br\u00fbl\u00e9e", "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"),
    ("Hello,   WORLD.\nNext line", "hello world next line"),
    # each Chinese or Japanese letter is a word, written with or without spaces
    ("重启负载\n均衡器，检查ENG-2291", "重 启 负 载 均 衡 器 检 查 eng 2291"),
    # written decomposed (NFD), a word is still one word: its accents split it before
    ("re\u0301union d\u2019e\u0301quipe", "r\u00e9union d \u00e9quipe"),
])
def test_words_split_and_fold_as_the_regex_says(a: str, b: str) -> None:
    words = _regex_words(b).encode().split()
    assert WORD_BYTES.findall(word_bytes(a)) == WORD_BYTES.findall(word_bytes(b)) == words
    assert shingle([a]).hashes.tolist() == shingle([b]).hashes.tolist()


@pytest.mark.parametrize(("text", "expected"), [
    # a vowel sign or virama (Mn, Mc) is part of its word: `\\w` alone split Hindi and
    # Tamil words into their consonants
    ("हिन्दी भाषा में लिखा।", ["हिन्दी", "भाषा", "में", "लिखा"]),
    ("தமிழ் மொழி", ["தமிழ்", "மொழி"]),
    ("كَتَبَ الدَّرْسَ", ["كَتَبَ", "الدَّرْسَ"]),
    # Thai writes no spaces between words: each letter with its marks is a word, as a CJK one
    ("ภาษาไทย ง่าย", ["ภ", "า", "ษ", "า", "ไ", "ท", "ย", "ง่", "า", "ย"]),
    ("Thai ไทย2 in text", ["thai", "ไ", "ท", "ย", "2", "in", "text"]),
])
def test_a_word_keeps_the_marks_written_on_it(text: str, expected: list[str]) -> None:
    assert words(text) == expected
    assert WORD_BYTES.findall(word_bytes(text)) == [w.encode() for w in expected]


def test_different_words_make_different_shingles() -> None:
    texts = ["the quick brown fox", "the quick brown fix", "the quick brown foxes",
             "quick the brown fox", "caf\u00e9 au lait", "cafe au lait",
             # Hindi words that differ only in their vowel signs were one word before
             "राम की किताब", "राम के किताब", "राम को किताब"]
    hashes = [tuple(shingle([t]).hashes.tolist()) for t in texts]
    assert len(set(hashes)) == len(texts)


def test_the_key_of_stored_bytes_is_the_key_of_their_text() -> None:
    rng = random.Random(1)
    for data in SAMPLES + [_random_ascii(rng) for _ in range(300)]:
        assert stored_text_key(data) == text_key(decode_text(data)[0]), data
    assert stored_text_key(b"The billing  service moves to the new queue\r\nbefore the "
                           b"freeze.  \n") == \
        stored_text_key(b"The billing service moves to the new queue before the freeze.")
    assert stored_text_key(b"A b c") != stored_text_key(b"a b c")  # case counts
    assert stored_text_key(b"a\n  b") != stored_text_key(b"a b")  # and indentation
    assert stored_text_key(b"a b c") != stored_text_key(b"a b, c")


def test_a_long_batch_reuses_and_outgrows_the_power_tables() -> None:
    # a text longer than the cached power tables, then short ones again: the same words hash
    # alike wherever they lie in a batch
    long_text = ("word " * 600_000 + "tail end here").encode()
    short = b"tail end here"
    big, small = shingle([long_text, short]), shingle([short])
    assert set(small.of(0).tolist()) <= set(big.of(0).tolist())
    assert big.of(1).tolist() == small.of(0).tolist()
    assert np.array_equal(shingle([short, long_text]).of(0), small.of(0))


def _words(count: int, prefix: str) -> str:
    return " ".join(f"{prefix}{k}" for k in range(count))


def test_own_counts_each_sides_shingles_and_small_edit_caps_both() -> None:
    """A near copy is a small edit in all: a word fixed (3 shingles each way) is; a text with
    a whole paragraph more (trust audit, second round: a copyright file holding
    another's and a licence more) is not, however few shingles the other side holds alone."""
    body = _words(400, "w")
    fixed = body.replace("w200", "fixed")
    longer = body + " " + _words(MAX_EDIT_TOTAL + 10, "extra")
    renamed = body.replace("w10 ", "x10 ").replace("w300 ", "x300 ") + " " + _words(60, "more")
    found = shingle([body, fixed, longer, renamed])
    i, j = np.array([0, 0, 0]), np.array([1, 2, 3])
    own_i, own_j = found.own(i, j)
    assert own_i.tolist()[:2] == [3, 0] and own_j.tolist()[:2] == [3, MAX_EDIT_TOTAL + 10]
    assert own_i[2] == 6 and own_j[2] == 6 + 60
    assert np.minimum(own_i, own_j).tolist() == [3, 0, 6]
    assert small_edit(own_i, own_j).tolist() == [True, False, False]
    # the edges: at the caps is small, one more is not
    less = np.array([MAX_EDIT_SHINGLES, MAX_EDIT_SHINGLES + 1, 0, 0, 20])
    more = np.array([MAX_EDIT_SHINGLES, MAX_EDIT_SHINGLES + 1, MAX_EDIT_TOTAL,
                     MAX_EDIT_TOTAL + 1, MAX_EDIT_TOTAL - 19])
    assert small_edit(less, more).tolist() == [True, False, True, False, False]
    assert small_edit(more, less).tolist() == [True, False, True, False, False]


def test_the_bound_before_the_exact_check_drops_no_pair_that_reaches_the_threshold() -> None:
    # pairs at every Jaccard, briefs long enough to fill a hash range 255 times (unbounded)
    rng = np.random.default_rng(3)
    words = [f"w{k}" for k in range(4000)]
    texts = [" ".join(rng.choice(words, int(rng.integers(3, 400)))) for _ in range(300)]
    for k in range(300):
        source = texts[k].split()
        for _ in range(int(rng.integers(0, 40))):
            source[int(rng.integers(0, len(source)))] = str(rng.choice(words))
        texts.append(" ".join(source))
    texts += [" ".join(rng.choice(words, 40_000)) for _ in range(2)]
    shingles = shingle(texts)
    i, j = np.triu_indices(len(texts), 1)
    exact = shingles.jaccards(i, j)
    for threshold in (0.3, 0.65, 0.9):
        reach = _may_reach(shingles, i, j, threshold)
        assert reach[exact >= np.float32(threshold)].all()  # nothing that reaches is dropped
        if threshold >= 0.65:  # and most of those that do not reach go
            assert (~reach).sum() > 0.5 * (exact < np.float32(threshold)).sum()
    counts, full = _bin_counts(shingles)
    assert full[-2:].all() and not full[:-2].any()
    assert np.array_equal(counts[:-2].sum(axis=1), np.diff(shingles.offsets)[:-2])


def test_held_by_counts_every_brief_and_without_drops_only_those_shingles() -> None:
    """Document frequencies are counted over every brief, though only for the given rows'
    shingles (checked against sets)."""
    rng = random.Random(7)
    vocabulary = [f"w{k}" for k in range(40)]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randrange(0, 30)))
             for _ in range(300)]
    found = shingle(texts)
    sets = [set(found.of(k).tolist()) for k in range(len(found))]
    rows = np.array([3, 17, 17, 250, 0], np.int64)
    for least in (1, 2, 5, 20, 1000):
        mine = set().union(*(sets[r] for r in rows.tolist()))
        expected = sorted(h for h in mine if sum(h in s for s in sets) >= least)
        common = found.held_by(rows, least)
        assert common.tolist() == expected, least
        rest = found.without(rows, common)
        for k, r in enumerate(rows.tolist()):
            assert rest.of(k).tolist() == sorted(sets[r] - set(expected))
