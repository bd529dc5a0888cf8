"""Reading a search query: the words the lexical channel looks up, and the literals that must
match (quoted phrases and identifier-like words such as `ENG-2291`, `CONFIG_FOO_BAR`,
`perm_version`, `/sys/class/net`, `getUserName`, `NFS`, `v2.1`, `--si`, `@property`,
`#include`, `C++`, names such as `Julián`, and words of Chinese or Japanese, which are
written without spaces)."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from . import cjk
from .errors import UsageError
from .store.lexical import PREFIX_MARK, STOP_WORDS, TOKEN

_QUOTED = re.compile(r'"([^"]*)"')
# a word character that is not a CJK letter or Korean syllable: what a literal must not touch
_LATIN = f"[^\\W{cjk.TOKEN_LETTERS}]"
# what ends a word of the query: white space, or Chinese or Japanese punctuation
_WORD_GAP = re.compile(f"[\\s{cjk.MARKS}]+")
# ... and in a word with CJK letters, any punctuation but what an identifier holds inside
# (`重启(负载均衡器)`, `“负载均衡器”的`, `负载均衡器…`; `修复ENG-2291的`, `v2.1版本` stay whole)
_CJK_WORD_GAP = re.compile(r"[^\w\-./@$]+")
# punctuation that ends a sentence or wraps a word, not part of an identifier
_WRAP = "\"'`.,;:!?()[]{}<>"
_CAMEL = re.compile(r"[a-z][A-Z]")
# inner joiners of a name: ENG-2291, perm_version, v2.1, a/b, Dir::Cache, env->context
_INNER = re.compile(r"\w(?:[-_./]|::|->)\w|^/\w")
_OPTION = re.compile(r"^--?[^\W\d_]")  # a command-line option: -h, --si, --no-preserve-root
# a decorator or mention, a variable, a preprocessor line: @property, $HOME, #include
_SIGIL = re.compile(r"^[@$#][^\W\d]")
# C++, g++, C#, F#: the index holds only `c`. A literal when it is the whole query; in a
# sentence it names a topic that the brief need not repeat: as literals everywhere, 4 of the
# 250 held-out Debian synopses (`GNU Standard C++ Library v3`) lost their answer from the top
# 10 (bench_search.py --quick --hybrid-only, session 33)
_LANGUAGE = re.compile(r"^\w+(?:\+\+|#)$")
# the boolean operators other search tools read, typed between words (`cache OR redis`):
# briefmin has none, and as acronyms they made every brief saying "OR" rank first
_OPERATORS = frozenset({"OR", "AND", "NOT"})
# a scheme or a header's name glued to an e-mail address (`mailto:ops@example.com`,
# `cc:ops@example.com`): the literal is the address, which a brief may hold without it (an
# audit: the brief holding `ops@example.com` ranked third for `mailto:ops@example.com`)
_ADDRESS_PREFIX = re.compile(r"^[A-Za-z][\w+.-]*:(?=[^\s:/@]+@[^\s:/@]+$)")


def tokens(text: str, split_cjk: bool = True) -> list[str]:
    """The index tokens of `text`, lower-cased: each Chinese or Japanese letter and Korean
    syllable is one, as the index holds them (`split_cjk=False`: a run of them, as formats
    before 9 did). Lower case, not casefold(): the index's tokenizer (unicode61) keeps `ß`
    and `ﬁ`, which casefold() turns into `ss` and `fi`, and `Straße` was never found."""
    if split_cjk and not text.isascii():
        text = cjk.token_spaced(text)
    return [t.lower() for t in TOKEN.findall(text)]


def is_identifier(word: str) -> bool:
    """Digits, inner `-` `_` `.` `/` `::` `->` (or a leading `/`), a leading `-` or `--` (an
    option), a leading `@`, `$` or `#` (`@property`, `$HOME`, `#include`), camelCase, or
    ALL-CAPS: words that name one thing, where an embedding carries little signal and the
    index's tokens lose the punctuation that tells them apart (`#include` is the stem
    `include`). (`C++` and `C#` are literals only as a whole query: `parse`.) And a word
    holding Chinese or Japanese letters or Korean syllables, or a mark written on a letter
    (a Hindi vowel sign): the index holds those letters alone, so only the literal check
    keeps the word's letters together and in order (and the bundled model reads English).
    And a name with a diacritic (`_is_accented_name`)."""
    letters = [c for c in word if c.isalpha()]
    return (any(c.isdigit() for c in word) or cjk.has_token_letter(word)
            or bool(_INNER.search(word))
            or bool(_OPTION.match(word)) or bool(_SIGIL.match(word))
            or bool(_CAMEL.search(word))
            or (len(letters) >= 2 and all(c.isupper() for c in letters))
            or (not word.isascii() and _has_mark(word))
            or _is_accented_name(word))


def _is_accented_name(word: str) -> bool:
    """A capitalized word of Latin letters, one with a diacritic (`Julián`, `Krämer`,
    `Øyvind`): a name, which the bundled English model cannot read and which a brief holds
    once, often in a long author list whose BM25 its length sinks (an audit: found first
    for 5 of 12 such names in a sentence)."""
    return (len(word) >= 2 and word[0].isupper() and any(c.islower() for c in word[1:])
            and all(c.isalpha() and ord(c) < 0x250 for c in word)
            and not word.isascii())


def _has_mark(word: str) -> bool:
    """Whether a letter of `word` carries a combining mark (Mn, Mc: `\\w` and the index's
    tokenizer both split a word there, so माली is read as म and ल). NFC text, so an accent
    composed with its letter (é) is none."""
    return any(unicodedata.category(c) in ("Mn", "Mc") for c in
               unicodedata.normalize("NFC", word))


@dataclass(frozen=True)
class Literal:
    """A quoted phrase or an identifier that a brief must contain to rank first."""

    text: str
    tokens: tuple[str, ...]  # its index tokens: a content holding the literal holds them all
    # an acronym (a word of capitals only: `US`, `NET`) matches in capitals only: read
    # without case, `US pricing` ranked a brief saying "contact us" above the pricing brief
    exact_case: bool = False
    # an abbreviated hash (`is_hash_prefix`): also found as the start of a longer one
    prefix: bool = False

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        # case-insensitive (but an acronym), any run of white space between words, not
        # inside a longer word;
        # a CJK letter has no word edge to respect (its words are not spaced), and is none
        # to others (`使用Docker部署` holds `Docker`)
        first, last = self.text[0], self.text[-1]
        left = ("" if cjk.has_token_letter(first) else
                f"(?<!{_LATIN})" if first.isalnum() or first == "_" else
                f"(?<!{_LATIN})(?<!-)" if first == "-" else "")  # `-h` is not in `--h`
        right = ("" if cjk.has_token_letter(last) else
                 f"(?!{_LATIN})" if last.isalnum() or last == "_" or _has_mark(last)
                 else "")
        joiners = sorted({ch for ch in self.text[1:-1] if ch in ".-"})
        if right and joiners:  # a version or an address goes on: `v2.3` is not in `v2.3.1`,
            # `ops@example.com` not in `ops@example.com.au` (a path may: `/sys/class/net/eth0`)
            right = f"(?!{_LATIN}|[{re.escape(''.join(joiners))}]{_LATIN}"
            # nor a release in its pre-release, `v2.13.0` in `v2.13.0-rc1` (an audit: the rc's
            # brief tied on literals); a packaging revision is the same release (`1.2.3-1`)
            right += r"|-[^\W\d_])" if "." in joiners and last.isdigit() else ")"
        if first == "-" and right:
            right = f"(?!{_LATIN}|-)"  # an option: `--batch` is not in `--batch-size`
        if self.prefix:  # the rest of a longer hash may follow, nothing else
            right = f"[0-9a-fA-F]*(?!{_LATIN})"
        return re.compile(left + _body(self.text) + right,
                          0 if self.exact_case else re.IGNORECASE)

    @functools.cached_property
    def _probe(self) -> str:
        """What a text holding the literal holds as it is (lower-cased but for an acronym):
        its first word (of a word with CJK letters, only what comes before the first one: a
        line may break at any of them)."""
        probe = self.text.split()[0]
        if (letter := cjk.TOKEN_LETTER.search(probe)) is not None:
            probe = probe[:max(1, letter.start())]  # `Docker部署` is in `Docker 部\n署`
        return probe if self.exact_case else probe.lower()

    def found_in(self, text: str) -> bool:
        # a plain substring test first: the pattern's look-arounds make it ~10x slower, and
        # most candidates hold the literal's parts but not the literal
        if self._probe not in (text if self.exact_case else text.lower()):
            return False
        return self.pattern.search(text) is not None


def _body(text: str) -> str:
    """A pattern for the words of `text` with any run of white space between them; next to a
    CJK letter, with or without it (Chinese puts no space between words, a line wrapped
    between two letters is still one word, and a Latin word beside Chinese is written with
    a space or without: `使用 Docker 部署`, `使用Docker部署`)."""
    out: list[str] = []
    last = ""
    for before, char in zip(" " + text[:-1], text, strict=True):
        if char.isspace():
            continue
        if last and (cjk.has_token_letter(last) or cjk.has_token_letter(char)):
            out.append(r"\s*")
        elif last and before.isspace():
            out.append(r"\s+")
        out.append(re.escape(char))
        last = char
    return "".join(out)


# 7 to 39 hex digits, at least one a digit and one a letter: an abbreviated hash (`git log
# --oneline` shows 7 or more), found as the start of the whole one
_HEX_PREFIX = re.compile(r"(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,39}")


def is_hash_prefix(word: str) -> bool:
    """Whether `word` may be an abbreviated hash (`3f2ed9a`, `3F2ED9A`): see `_HEX_PREFIX`;
    its letters in one case (`Ed25519` is a name: 12 of the Debian benchmark's queries)."""
    return _HEX_PREFIX.fullmatch(word) is not None and (word.islower() or word.isupper())


def is_acronym(word: str) -> bool:
    """Two or more letters, all capitals, and nothing else (`US`, `NFS`; not `CVE-1`)."""
    return len(word) >= 2 and word.isalpha() and word.isupper()


@dataclass(frozen=True)
class Query:
    text: str
    terms: tuple[str, ...]  # what the lexical channel looks up (stop words left out)
    literals: tuple[Literal, ...]  # what must match

    @property
    def mostly_cjk(self) -> bool:
        """Whether at least half of the query's letters are Chinese, Japanese or Korean."""
        letters = [c for c in self.text if c.isalpha()]
        return 2 * sum(cjk.has_token_letter(c) for c in letters) >= len(letters) > 0


def parse(text: str, split_cjk: bool = True) -> Query:
    """Read one query. A query without a letter or digit is a usage error (exit 2); one of stop
    words only has no lexical terms, so it is answered by meaning alone. `split_cjk`: whether
    the index searched holds each CJK letter as a token (`tokens`)."""
    if not TOKEN.search(text):
        raise UsageError(f"the query {text!r} has no words to search for")
    # composed, as text is typed and stored (an audit: a decomposed `naïve`, the accent a
    # mark of its own, found nothing; NFKC would also fold the `ﬁ` the index keeps)
    text = unicodedata.normalize("NFC", text)
    literals: list[Literal] = []
    for phrase in _QUOTED.findall(text):
        phrase = " ".join(phrase.split())
        if TOKEN.search(phrase):
            literals.append(Literal(phrase, tuple(tokens(phrase, split_cjk))))
    # a query typed in capitals (caps lock) holds no acronym: its words match in any case
    shouted = not any(c.islower() for c in text)
    words = _WORD_GAP.split(_QUOTED.sub(" ", text))
    alone = sum(bool(w.strip(_WRAP)) for w in words) == 1  # the query is one word
    for word in (piece for w in words for piece in (
            _CJK_WORD_GAP.split(w) if cjk.has_token_letter(w) else [w])):
        word = _ADDRESS_PREFIX.sub("", word.strip(_WRAP))
        if word and is_hash_prefix(word):
            literals.append(Literal(word, (word.lower() + PREFIX_MARK,), prefix=True))
        elif word in _OPERATORS and not alone:
            continue  # a stop word, as `or` is
        # in a query typed in capitals, capitals tell nothing: `ERR CONNECTION RESET` is
        # no three acronyms (each had to be a word of its own, and the brief holding
        # `ERR_CONNECTION_RESET` ranked 8th: an audit); one word alone still may be one
        elif word and ((is_identifier(word.lower()) if shouted and not alone
                        else is_identifier(word)) or (alone and _LANGUAGE.match(word))) \
                and TOKEN.search(word):
            literals.append(Literal(word, tuple(tokens(word, split_cjk)),
                                    is_acronym(word) and not shouted))
    prefixes = {lit.tokens[0][:-1] for lit in literals if lit.prefix}
    terms = list(dict.fromkeys(t + PREFIX_MARK if t in prefixes else t
                               for t in tokens(text, split_cjk) if t not in STOP_WORDS))
    unique = list({lit.text.casefold(): lit for lit in literals}.values())
    return Query(text, tuple(terms), tuple(unique))
