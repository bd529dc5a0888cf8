"""Scripts written without spaces between words (Chinese, Japanese): which characters are
their letters and their punctuation. Each letter is a word of its own wherever briefmin
counts or matches words: minify's budgets (briefmin.units), the lexical index's tokens
(briefmin.store.lexical) and dedupe's shingles (briefmin.shingles). The lexical index and
search queries also read each Korean syllable as a token (TOKEN_LETTERS).

TOKEN_LETTERS is part of the file format from format 9 on: the lexical index holds each of
these characters as its own token, and removing a content from the index needs the very
tokens it was given. Changing it therefore takes a new format version that rebuilds the
index."""

from __future__ import annotations

import re

# ideographs and kana (with the CJK radicals, iteration marks, Hangzhou numerals, bopomofo
# extensions and strokes); Hangul is left out: Korean puts spaces between its words
LETTERS = ("\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3040-\u30ff"
           "\u3190-\u319f\u31c0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
           "\U00020000-\U0003134f")
# their punctuation (not the ideographic space U+3000, which is whitespace)
MARKS = ("\u3001-\u3004\u3008-\u3020\u30fb\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40"
         "\uff5b-\uff65")
LETTER = re.compile(f"[{LETTERS}]")
# Korean syllables and jamo. Korean puts a space between its words, so minify counts them as
# words, but a word carries its particles (패치를, 패치가: "patch" as object, as subject; in
# the kernel's Korean howto 패치 never stands alone), so the lexical index and queries read
# each syllable as a token too, and the literal check finds 패치 inside 패치를
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3"
TOKEN_LETTERS = LETTERS + HANGUL
TOKEN_LETTER = re.compile(f"[{TOKEN_LETTERS}]")


def has_letter(text: str) -> bool:
    """Whether `text` holds a Chinese or Japanese letter (its words are then characters)."""
    return LETTER.search(text) is not None


def spaced(text: str) -> str:
    """`text` with a space on each side of every CJK letter, so that a tokenizer cutting at
    whitespace and punctuation (SQLite's unicode61, `\\w+`) reads each letter as a word."""
    return LETTER.sub(r" \g<0> ", text)


def has_token_letter(text: str) -> bool:
    """Whether `text` holds a letter the lexical index reads as a token of its own."""
    return TOKEN_LETTER.search(text) is not None


def token_spaced(text: str) -> str:
    """`text` with a space on each side of every CJK letter and Korean syllable: what the
    lexical index and the query parser read (`spaced` is minify's and dedupe's)."""
    return TOKEN_LETTER.sub(r" \g<0> ", text)
