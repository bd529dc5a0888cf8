"""The lexical index's text: `indexed_text` is part of the file format (unindexing a content
needs the very text that was indexed), so its quick patterns must give exactly what the
per-token definition (`lexical.by_token`) gives, on any text."""

from __future__ import annotations

import re
import string
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from briefmin.store import lexical

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# characters where case folding and `re.IGNORECASE` meet ASCII letters, or that tokenize
# differently: Kelvin sign, long s, dotted and dotless I, sharp s, ligatures, fullwidth
# letters and digits, other digits, combining marks, underscores, punctuation
EDGES = ["\u212a", "\u017f", "\u0130", "\u0131", "\u00df", "\u1e9e", "\ufb00", "\ufb05",
         "\ufb06", "\uff21", "\uff41", "\uff10", "\u0663", "\u00b2", "\u0307", "\u0301",
         "_", "-", "'", ".", " ", "\n", "\t", "é", "É", "ǰ", "ŉ", "\u00a0", "\u200b"]


def _cased(word: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c for c, flip in zip(word, flips, strict=False))


stop_word = st.builds(_cased, st.sampled_from(sorted(lexical.STOP_WORDS)),
                      st.lists(st.booleans(), min_size=8, max_size=8))
# a stop word with an edge character put in it, or one of its letters spelt otherwise
spoofed = st.builds(lambda word, at, edge: word[:at] + edge + word[at + 1:],
                    stop_word, st.integers(0, 7), st.sampled_from(EDGES))
# Chinese and Japanese letters and Korean syllables (each a token since format 9) and
# punctuation, next to stop words and ASCII letters: "a" glued to a CJK letter becomes a
# stop word token of its own
CJK = "负载均衡器的日志ひらカタ々〇㐀𠀀。，、「」：（）패치를ᄀㄱ"
piece = st.one_of(stop_word, spoofed, st.sampled_from(EDGES),
                  st.text(alphabet=string.ascii_letters + string.digits + "_ -", max_size=6),
                  st.text(alphabet=CJK, max_size=5), st.text(max_size=4))
texts = st.lists(piece, max_size=30).map("".join)
ascii_texts = st.lists(st.one_of(stop_word, st.text(alphabet=string.printable, max_size=5)),
                       max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(texts)
def test_indexed_text_is_the_per_token_definition(text: str) -> None:
    assert lexical.indexed_text(text) == lexical.by_token(text)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_indexed_text_of_formats_before_9_is_their_per_token_definition(text: str) -> None:
    assert (lexical.indexed_text(text, split_cjk=False)
            == lexical.by_token(text, split_cjk=False))


def test_each_cjk_letter_is_a_token_of_its_own() -> None:
    text = "重启负载均衡器 and the Docker 日志。使用a工具"
    assert lexical.TOKEN.findall(lexical.indexed_text(text)) == [
        "重", "启", "负", "载", "均", "衡", "器", "Docker", "日", "志", "使", "用", "工", "具"]
    # formats before 9: a run of letters up to a space or punctuation, "a" inside it
    assert lexical.TOKEN.findall(lexical.indexed_text(text, split_cjk=False)) == [
        "重启负载均衡器", "Docker", "日志", "使用a工具"]
    # a Korean word carries its particles (패치를: the patch, as object): each syllable too
    assert lexical.TOKEN.findall(lexical.indexed_text("패치를 보낸다 to ENG-2291을")) == [
        "패", "치", "를", "보", "낸", "다", "ENG", "2291", "을"]


def test_term_counts_count_the_index_tokens() -> None:
    """Stems (porter) and CJK letters as the index reads them; stop words never count."""
    texts = {1: "Pricing: prices and priced, the price.", 2: "价格价格，价。", 3: "none"}
    counts = lexical.term_counts(texts, ["pricing", "价", "the"])
    assert counts == {("pricing", 1): 4, ("价", 2): 3}
    # formats before 9 held a run of CJK letters as one token
    assert lexical.term_counts(texts, ["价格价格"], split_cjk=False) == {("价格价格", 2): 1}


@settings(max_examples=300, deadline=None)
@given(ascii_texts)
def test_indexed_text_ascii_path(text: str) -> None:
    assert lexical.indexed_text(text) == lexical.by_token(text)


def test_every_stop_word_in_mixed_case_and_next_to_edges() -> None:
    for word in sorted(lexical.STOP_WORDS):
        for variant in (word, word.upper(), word.title(), _cased(word, [True, False] * 4)):
            for left in ("", " ", "x", "1", "_", "\u212a", "\uff21", "é", "\u0307"):
                for right in ("", " ", "s", "9", "_", "\u017f", "\uff10", "é", "\u0301"):
                    text = f"{left}{variant}{right} and {variant}"
                    assert lexical.indexed_text(text) == lexical.by_token(text), text
    # the spellings only casefolding finds: a stop word after all, which the fallback drops
    for text in ("\u212a", "i\u017f", "\u017fo", "o\ufb00", "ju\ufb06", "mo\ufb05",
                 "\u0130s", "\u0131s", "Thi\u017f is it"):
        assert lexical.indexed_text(text) == lexical.by_token(text)
    assert lexical.indexed_text("o\ufb00 the record") == "    record"
    assert lexical.indexed_text("The_end of it") == " _end    "  # `_` splits tokens


def test_folding_characters_are_all_listed() -> None:
    """The quick unicode pattern is exact only for texts without the characters whose
    casefold holds an ASCII character or that `re.IGNORECASE` matches to an ASCII letter:
    recomputed over every code point of this Python's unicode database."""
    letter = re.compile("[a-z]", re.IGNORECASE)
    found = {chr(cp) for cp in range(128, sys.maxunicode + 1)
             if letter.match(chr(cp)) or any(c.isascii() for c in chr(cp).casefold())}
    assert found == set(lexical.FOLDING_TO_ASCII)


def test_indexed_text_on_the_fixture_briefs() -> None:
    files = [p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in (".md", ".txt")]
    assert files
    for path in files:
        text = path.read_text(errors="replace")
        assert lexical.indexed_text(text) == lexical.by_token(text), path


def test_btree_check_accepts_whole_keys_of_incremental_merge_steps() -> None:
    """The first term an incremental merge step writes is keyed whole in the term b-tree
    (the step does not know the term before it). A million-brief archive has such keys and
    `verify` called them damage; small pages and small merge steps make many of them here.
    A key that is not a prefix of its page's first term is still damage."""
    import random
    import sqlite3

    from briefmin.store.lexical import _btree_mismatch, _btree_rows
    from briefmin.store.schema import LEXICAL_TABLE_SQL

    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(LEXICAL_TABLE_SQL)
    conn.execute("INSERT INTO lexical(lexical, rank) VALUES ('pgsz', 64)")
    conn.execute("INSERT INTO lexical(lexical, rank) VALUES ('automerge', 0)")
    rnd = random.Random(3)
    words = [f"w{rnd.randrange(10**6):06d}x" for _ in range(4000)]
    for batch in range(8):  # eight segments
        conn.execute("BEGIN")
        for k in range(60):
            conn.execute("INSERT INTO lexical(rowid, text) VALUES (?, ?)",
                         (batch * 60 + k + 1, " ".join(rnd.sample(words, 30))))
        conn.execute("COMMIT")
    for _ in range(400):  # merged into one, five pages per step
        before = conn.total_changes
        conn.execute("INSERT INTO lexical(lexical, rank) VALUES ('merge', 5)")
        if conn.total_changes - before < 2:
            break
    assert conn.execute("SELECT count(DISTINCT segid) FROM lexical_idx").fetchone() == (1,)
    # whole keys are there: pages keyed longer than the shortest separating prefix
    expected, found = _btree_rows(conn, "lexical")
    assert sum(len(found[where][0]) > len(shortest)
               for where, (shortest, _, _) in expected.items() if where in found) > 10
    assert _btree_mismatch(conn, "lexical") == ""
    segid, term = conn.execute(
        "SELECT segid, term FROM lexical_idx WHERE length(term) > 2 LIMIT 1").fetchone()
    conn.execute("UPDATE lexical_idx SET term = ? WHERE segid = ? AND term = ?",
                 (bytes(term)[:-1] + b"~", segid, term))
    assert _btree_mismatch(conn, "lexical") == "1 entries of its term b-tree are wrong"


def test_stems_are_the_index_tokens_and_their_cache_forgets_safely(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Words share their stems as the index holds them, and the cache of stems may be
    emptied while a call needs a word it held: the first cache (in search's snippets)
    looked such a word up after clearing it (KeyError)."""
    assert lexical.stems(["prices", "price", "Cafés"]) == {
        "prices": frozenset({"price"}), "price": frozenset({"price"}),
        "Cafés": frozenset({"cafe"})}
    monkeypatch.setattr(lexical, "_STEMS_KEPT", 3)
    lexical.stems(["prices"])
    assert lexical.stems(["prices", "running", "jumped"]) == {
        "prices": frozenset({"price"}), "running": frozenset({"run"}),
        "jumped": frozenset({"jump"})}
