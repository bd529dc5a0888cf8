"""Scripts written without spaces between words (Chinese, Japanese): which characters are
their letters and their punctuation. Each letter is a word of its own wherever briefmin
counts or matches words: minify's budgets (briefmin.units), the lexical index's tokens
(briefmin.store.lexical) and dedupe's shingles (briefmin.shingles).

LETTERS is part of the file format from format 9 on: the lexical index holds each of these
characters as its own token, and removing a content from the index needs the very tokens it
was given. Changing LETTERS therefore takes a new format version that rebuilds the index."""

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


def has_letter(text: str) -> bool:
    """Whether `text` holds a Chinese or Japanese letter (its words are then characters)."""
    return LETTER.search(text) is not None


def spaced(text: str) -> str:
    """`text` with a space on each side of every CJK letter, so that a tokenizer cutting at
    whitespace and punctuation (SQLite's unicode61, `\\w+`) reads each letter as a word."""
    return LETTER.sub(r" \g<0> ", text)
