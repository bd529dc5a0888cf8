"""Reading a search query: the words the lexical channel looks up, and the literals that must
match (quoted phrases and identifier-like words such as `ENG-2291`, `CONFIG_FOO_BAR`,
`perm_version`, `/sys/class/net`, `getUserName`, `NFS`, `v2.1`, `--si`, `@property`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .errors import UsageError
from .store.lexical import STOP_WORDS, TOKEN

_QUOTED = re.compile(r'"([^"]*)"')
# punctuation that ends a sentence or wraps a word, not part of an identifier
_WRAP = "\"'`.,;:!?()[]{}<>"
_CAMEL = re.compile(r"[a-z][A-Z]")
_INNER = re.compile(r"\w[-_./]\w|^/\w")
_OPTION = re.compile(r"^--?[^\W\d_]")  # a command-line option: -h, --si, --no-preserve-root
_SIGIL = re.compile(r"^[@$][^\W\d]")  # a decorator or mention, a variable: @property, $HOME


def tokens(text: str) -> list[str]:
    """The index tokens of `text`, case-folded."""
    return [t.casefold() for t in TOKEN.findall(text)]


def is_identifier(word: str) -> bool:
    """Digits, inner `-` `_` `.` `/` (or a leading `/`), a leading `-` or `--` (an option),
    a leading `@` or `$` (`@property`, `$HOME`), camelCase, or ALL-CAPS: words that name one
    thing, where an embedding carries little signal."""
    letters = [c for c in word if c.isalpha()]
    return (any(c.isdigit() for c in word) or bool(_INNER.search(word))
            or bool(_OPTION.match(word)) or bool(_SIGIL.match(word))
            or bool(_CAMEL.search(word))
            or (len(letters) >= 2 and all(c.isupper() for c in letters)))


@dataclass(frozen=True)
class Literal:
    """A quoted phrase or an identifier that a brief must contain to rank first."""

    text: str
    tokens: tuple[str, ...]  # its index tokens: a content holding the literal holds them all

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        # case-insensitive, any run of white space between words, not inside a longer word
        body = r"\s+".join(re.escape(part) for part in self.text.split())
        left = (r"(?<![\w])" if self.text[0].isalnum() or self.text[0] == "_" else
                r"(?<![\w-])" if self.text[0] == "-" else "")  # `-h` is not in `--h`
        right = r"(?![\w])" if self.text[-1].isalnum() or self.text[-1] == "_" else ""
        if self.text[0] == "-" and right:
            right = r"(?![\w-])"  # an option: `--batch` is not in `--batch-size`
        return re.compile(left + body + right, re.IGNORECASE)

    def found_in(self, text: str) -> bool:
        # a plain substring test first: the pattern's look-arounds make it ~10x slower, and
        # most candidates hold the literal's parts but not the literal
        if self.text.split()[0].lower() not in text.lower():
            return False
        return self.pattern.search(text) is not None


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[str, ...]  # what the lexical channel looks up (stop words left out)
    literals: tuple[Literal, ...]  # what must match


def parse(text: str) -> Query:
    """Read one query. A query without a letter or digit is a usage error (exit 2); one of stop
    words only has no lexical terms, so it is answered by meaning alone."""
    if not TOKEN.search(text):
        raise UsageError(f"the query {text!r} has no words to search for")
    literals: list[Literal] = []
    for phrase in _QUOTED.findall(text):
        phrase = " ".join(phrase.split())
        if TOKEN.search(phrase):
            literals.append(Literal(phrase, tuple(tokens(phrase))))
    for word in _QUOTED.sub(" ", text).split():
        word = word.strip(_WRAP)
        if word and is_identifier(word) and TOKEN.search(word):
            literals.append(Literal(word, tuple(tokens(word))))
    terms = list(dict.fromkeys(t for t in tokens(text) if t not in STOP_WORDS))
    unique = list({lit.text.casefold(): lit for lit in literals}.values())
    return Query(text, tuple(terms), tuple(unique))
