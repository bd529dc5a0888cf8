"""A brief as units: markdown- and reStructuredText-aware parsing, lossless clean-ups, and
rendering of the units kept, in the input's order.

A brief is parsed into blocks (paragraphs, list items, headings, code blocks, tables, front
matter, quotes, reStructuredText directives); a paragraph is split into sentence units, and so
is a plain list item of several sentences (its marker kept with any of them); every other
block is one unit, so a code block is never cut. A table larger than the budget is split
into row units whose context is the table's head, so it may lose rows but never a row's part;
a sentence larger than the budget (a paragraph the splitter cannot cut, as HTML with no
blank lines) into chained pieces, so it may keep its start, never its middle. Headings, a
table's head and the list items a nested block sits in are its *context*: kept
(and paid for) whenever the block is kept. Plain text laid out by indentation (`laid_out`: a
manual page as `man | col -b` saves it) is read as prose under indentation headings instead
of markdown's indented code blocks. Pure text in, text out: no model, no numpy maths
beyond a mask."""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from . import cjk

# units kept only as the context of others (a heading, a table's head, a list item's marker,
# a comment run's mark, a rule line right under a paragraph or list item, a link's or
# footnote's definition, the opening and closing tags of an HTML element around blocks); a
# horizontal rule between blank lines is the context of nothing: kept only with the whole
# brief
CONTEXT_KINDS = ("heading", "term", "tablehead", "itemhead", "leadin", "commentmark",
                 "underline", "rule", "definition", "htmlopen", "htmlclose")
# whether a brief with no markdown or reStructuredText structure, most of whose words are
# indented, is read as plain text laid out by indentation (`laid_out`): a manual page saved
# with `man | col -b`, notes indented by hand. Markdown's rule made each of its indented
# paragraphs one uncuttable code block. Rule set before measuring, (a)-(c) met: on 60
# training man pages e5 +0.0057 [+0.0032, +0.0092] per document (and ahead of `truncate`,
# which the markdown reading was behind under MiniLM); no training brief of the other
# genres changes; kernel speed rows level (bench/RESULTS.md, fourteenth round)
LAYOUT_BY_INDENT = True
# a laid-out line this short, with no end punctuation, directly above a deeper-indented
# line is a heading over it: a section's name, an option's term (`DEFINITION_TERMS`)
LAYOUT_HEADING_WORDS = 8
# outside laid-out text, such a line over deeper lines is reStructuredText's definition
# list: a term, kept only with its definition, written on its own line over it (it was the
# start of one paragraph with it: partly kept, "worker A process that ..." on one line,
# and a definition could be kept without its term). Set for that output rule; its scores
# in bench/RESULTS.md (session 41)
DEFINITION_TERMS = True
# in `laid_out` and the laid-out reading a tab reaches the next multiple of this many
# columns, as a terminal and `col -b` show it (None: one column). Counted one column, a
# `man | col -b` page's option description was as deep as its option's name, and kept
# without it. Rule set before the held-out score (session 40), met: on the 150 held-out
# `mantabs` pages e5 -0.0000 [-0.0004, +0.0003] per document against one column, kept
# lines without the line they sit under 612 -> 285 (0.3) and 786 -> 480 (0.5); only 3
# READMEs with tabs read otherwise in the other genres. (The fifteenth round's training
# e5 was -0.0003 [-0.0010, +0.0003]: no meaning gained, none lost; bench/RESULTS.md)
LAYOUT_TAB_STOP: int | None = 8
# in a brief with markdown structure (`_structured`), a tab reaches the next multiple of this
# many columns where an indented code block is looked for, as CommonMark reads it: counted
# one column, a tab-indented code block was a paragraph, cut and its lines joined. A brief
# without that structure keeps one-column tabs (`laid_out` was measured with them)
MARKDOWN_TAB_STOP = 4
# pydoc's class gutter (` |  `) is read as indentation in a laid-out brief, and a table
# indented 4+ columns (markdown's code, never a table) no longer vetoes that reading: pydoc
# pages were read as markdown, each indented section one uncuttable code block. Rule set
# before measuring, (a)-(c) met: on 60 training pydoc pages e5 +0.0302 [+0.0230,
# +0.0380] per document; no other genre's reading changes but 8 man pages' (e5 +0.0057);
# kernel speed rows level (bench/RESULTS.md, sixteenth round)
LAYOUT_GUTTERS = True
# a sentence unit larger than the whole budget (it could never be kept) is read as chained
# pieces, so it keeps its start, never its middle. A paragraph the sentence splitter cannot
# cut (HTML with no blank lines, a list of constants) was left out whole, or the brief came
# out empty. Rule set before measuring, (a)-(c) met: on the 45 training HTML pages e5
# +0.0465 [+0.0016, +0.1132] per document; the 683 changed documents of the seven genres
# +0.0004 [+0.0001, +0.0008]; kernel speed rows level (bench/RESULTS.md, eighteenth round).
# (The seventeenth read such a sentence by line: it kept a real sentence's middle lines)
OVERSIZED_START = True
# a paragraph of one line that ends no sentence, above a list (`pkg (1.0-1) unstable;
# urgency=medium` over a changelog's items), is the context of the list's units, as a
# heading is of its section, when at least LEAD_INS such lines of the brief share its first
# word (0: never). Every lead-in (1) cost README-like briefs their terms (`Features:` paid
# with each item kept; the twentieth round), a recurring one names a series' sections (the
# twenty-first, bench/RESULTS.md)
LEAD_INS = 3
# a brief in which at least this share of the `#` headings of its markdown reading sit
# right above or below one of their level (no blank line between) is a file commented
# with `#` lines (a configuration file, a script): its `#` lines are comments, each run of
# them a paragraph of its own, its other lines units kept whole (None: never). Read as
# headings, a config file's comments were kept only above a kept setting, and an output
# could be empty. Rule set before the code, (a)-(d) met: on 57 held-out files under /etc
# and /usr/share/doc/*/examples, MiniLM-180x +0.085 / +0.107 / +0.111 per file at 0.3 /
# 0.5 / 0.7, all intervals above 0; the first 40 training documents of six other genres
# unchanged (bench/RESULTS.md, twenty-second and twenty-third rounds, after the review)
COMMENT_RUNS: float | None = 0.5
# ... and has at least this many such lines: two are a note (a Debian changelog's "Older
# entries have been removed"), which read as comments cost changelogs meaning (the
# twenty-second round's rule (b); the twenty-third round)
COMMENT_LINES = 3
# in such a file, a paragraph of code or settings whose lines are not all at one indentation
# is a code block, kept whole or dropped: line by line, an `if` was kept without its body
NESTED_CODE = True
# a run of comment lines pays for its `#` mark once, as a context unit (a list item's marker
# is paid so), and a sentence in it for its own words; a run kept whole is written as it was
# when that fits the budget, else on one line as a partly kept run is (`render`). Charged a
# mark per sentence, a partly kept run paid for marks it never wrote: the default filled
# 0.970 / 0.963 / 0.957 of the budget on the training config files, now 0.997 / 0.997 /
# 0.992 (twenty-fourth round: its four rules passed, the held-out `debconf` probe's included)
MARKS_ONCE = True
# such a sentence's first budget's words are cut into this many pieces (the rest is one
# more): a kept start fills all but a 32nd of the budget, and the chain stays short
START_PIECES = 32



_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_ADORNMENT = re.compile(r"^([=\-~^*#\"'`+:._])\1{2,}[ \t]*$")
_PIPE_ROW = re.compile(r"^\s*\|")
# GFM's delimiter row: a cell is one dash or more, with optional colons (`|:-|-:|` is one;
# three dashes were required, and such a table lost its header row); one cell needs both
# outer pipes
_PIPE_RULE = re.compile(r"^\s*(?:\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?|\|\s*:?-+:?\s*\|)\s*$")
_GRID_BORDER = re.compile(r"^\s*\+[-=+]{3,}\+?\s*$")
_SIMPLE_BORDER = re.compile(r"^\s*={2,}([ \t]+={2,})+\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.(\s|$)")
_GRID_HEAD_RULE = re.compile(r"^\s*\+=[=+]*\+\s*$")
_TABLE_DIRECTIVE = re.compile(r"^\s*\.\.\s+(flat-table|list-table)::")
_OPTION = re.compile(r"^\s*:[^:\s][^:]*:")
_QUOTE = re.compile(r"^\s{0,3}>")
# reStructuredText's option list item: options (`-a`, `-f FILE`, `--file=FILE`, `--all`,
# alternates after ", ") and two spaces or a tab before the description on the same line.
# Read as a paragraph, its lines ran together and the gap was squeezed: docutils then read a
# paragraph, and a description could be kept without its option
# (no `--` inside a name: `-rw-r--r--    1 root` is a listing's line)
_OPTION_NAME = (r"--?[A-Za-z0-9](?:-?[A-Za-z0-9_])*"
                r"(?:[ =](?:<[^<>\n]+>|[A-Za-z](?:-?[A-Za-z0-9_])*))?")
_OPTION_ITEM = re.compile(rf"^(\s*)({_OPTION_NAME}(?:, {_OPTION_NAME})*)([ \t]{{2,}}|\t)(?=\S)")
# a definition under its term in Markdown Extra, Pandoc and MkDocs (`Term` over `: text`)
_COLON_DEFINITION = re.compile(r"^( {0,3})(:)([ \t]+)(?=.*\w)")
# a GitHub task list item's box, after its marker
_TASK_BOX = re.compile(r"\[[ xX]\][ \t]+")
# the `>` marks that open a quote line, each with the one space after it
_QUOTE_MARKS = re.compile(r"^(?:\s{0,3}> ?)+")
# a quote line written `> text` (`>> text`, `> > text`): its marks end in white space
_QUOTE_SPACED = re.compile(r"^\s{0,3}>[ \t>]*[ \t]")
_DOCTEST = re.compile(r"^\s*>>>(?:\s|$)")  # a doctest block's first line (reStructuredText)
# markdown's link reference definition (`[label]: https://...`) or footnote (`[^1]: text`):
# invisible once rendered, it is what `[text][label]`, `[label]` or `[^1]` elsewhere points at;
# its destination may be on the next line (`[label]:` over an indented URL), group 2 empty
_DEFINITION = re.compile(r"^ {0,3}\[([^\[\]]+)\]:([ \t]*\S)?")
# a link's destination on a line of its own, with its title or not (`# Intro` is none, nor
# a line that starts a block: a fence, a table's row)
_DESTINATION = re.compile(r"^\s*(<[^<>]*>|[^\s<>]+)(\s+[\"'(].*)?\s*$")
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")  # a label a text may point at
# reStructuredText's footnote or citation (`.. [#note] …`) and named hyperlink target with
# its URL (`.. _pip: https://…`), and the references to them: `[#note]_`, `` `pip`_ ``,
# `pip_`; kept without its target, docutils reports "Unknown target name"
_RST_TARGET = re.compile(r"^\s*\.\.[ \t]+(?:\[([^\[\]\s]+)\](?:\s|$)"
                         r"|_(`[^`]+`|[^:`\s][^:`]*):[ \t]+\S)")
_RST_REFERENCE = re.compile(r"\[([^\[\]\s]+)\]_|`([^`<>]+)`_(?!_)"
                            r"|(?<![\w`.-])([A-Za-z0-9](?:[\w.+-]*\w)?)_(?![\w`])")
# reStructuredText's substitution definition (`.. |product| replace:: …`, `.. |logo| image::
# …`) and a reference to one (`|product|`, `|product|_`): kept apart, docutils reports
# "Undefined substitution referenced"
_RST_SUBSTITUTION = re.compile(r"^\s*\.\.[ \t]+\|([^|\s](?:[^|]*[^|\s])?)\|[ \t]+\S")
_RST_SUBSTITUTION_REFERENCE = re.compile(
    r"(?<![\w|])\|([^|\s](?:[^|]*[^|\s])?)\|(?![A-Za-z0-9|])")
# an HTML element around markdown blocks (`<details>` … a blank line … `</details>`, a
# README's `<div align="center">`): its opening paragraph, and a line of its closing tag alone
_HTML_OPEN = re.compile(r"^ {0,3}<(details|div|section|center|article|aside|figure)(?=[\s>])",
                        re.IGNORECASE)
_HTML_CLOSE = re.compile(r"^ {0,3}</(details|div|section|center|article|aside|figure)\s*>\s*$",
                         re.IGNORECASE)
_COMMENT = re.compile(r"^ {0,3}<!--")  # markdown's HTML comment block, to its `-->`
_HASH_LINE = re.compile(r"^[ \t]*#")  # a commented file's comment line (`COMMENT_RUNS`)
# a comment line of text: marks, then white space or nothing (`# text`, `#`); the marks
# are left out of a unit's text. Other `#` lines (`#!/bin/sh`, `#PermitRootLogin no`, a
# rule of `#`s) are switched-off settings, code or layout: kept whole, as written
_COMMENT_MARK = re.compile(r"^[ \t]*#+(?:[ \t]+|$)")
_CLOSING_MARKS = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")  # `## Section ##`: layout too
# HTML whose content is not markdown, to its closing tag and across blank lines (CommonMark's
# first kind of HTML block): code in <pre>; the CSS of a Jupyter export's <style scoped>,
# whose rules split into paragraphs kept one without `</style>`, read the rest as CSS
_RAW = re.compile(r"^\s*<(pre|script|style|textarea)(?=[\s>])", re.IGNORECASE)
_RAW_CLOSE = {tag: re.compile(rf"</{tag}\s*>", re.IGNORECASE)
              for tag in ("pre", "script", "style", "textarea")}
_GUTTER = re.compile(r"^(\s*)\|(?=\s|$)")  # a `|` framing a laid-out line, as pydoc's
_LINE_END = re.compile(r"\r\n?|\n")  # a brief's first line ending is its style
_ITEM = re.compile(r"^(\s*)([-*+\u2022]|\d{1,9}[.)]|#\.|\(\d{1,9}\)|:[^:\s][^:]*:)(\s+|$)")
# a line's end that ends a sentence: . ! ? and the quotes, brackets or emphasis after it
_ENDS_SENTENCE = re.compile(r"[.!?][\"')\]*_]*$")
# a synopsis' placeholder (`SOURCE`, `FILE_NAME`): an ellipsis after it is no sentence end
_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_-]{2,}")
# what follows a synopsis' "one or more" on its line: a bracket, or a placeholder before
# a bracket, an option, another placeholder, an ellipsis or the line's end (so an acronym
# before words ends a sentence: `the API... AWS support never answered.`)
_WHOLE_PLACEHOLDER = _PLACEHOLDER.pattern + "(?![a-z])"  # (not `AWS` of `AWSome`)
_SYNOPSIS_NEXT = re.compile(rf"[ \t]+(\[|{_WHOLE_PLACEHOLDER}"
                            rf"(\.\.\.|[ \t]+(\[|-|{_WHOLE_PLACEHOLDER})|[ \t]*(\n|$)))")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]*_]*(\s+)(?=[\"'(\[*_`]*[A-Z0-9])")
# scripts written without spaces between words (Chinese, Japanese): see briefmin.cjk
_CJK_LETTERS, _CJK_MARKS = cjk.LETTERS, cjk.MARKS
_CJK_EDGE = re.compile(f"[{_CJK_LETTERS}{_CJK_MARKS}]")
_CJK_MARK = re.compile(f"[{_CJK_MARKS}]")
# CJK full stop, exclamation and question marks, comma, enumeration comma, semicolon, colon
_CJK_PAUSES = ("\u3002", "\uff01", "\uff1f", "\uff0c", "\u3001", "\uff1b", "\uff1a")
# a line ending in one ends a sentence or clause: it heads no lines (a heading, a term)
_CLAUSE_ENDS = (".", "!", "?", ",", ";", ":", *_CJK_PAUSES)
# what `count_words` counts in CJK text: a CJK letter, or a run of non-whitespace that holds
# no CJK letter or punctuation (the punctuation is no word)
_CJK_COUNTED = re.compile(f"[{_CJK_LETTERS}]|(?:(?![{_CJK_LETTERS}{_CJK_MARKS}])\\S)+")
# where CJK text may be cut (`words_of`): a CJK letter with the CJK punctuation around it, a
# run of that punctuation alone, or a run of other non-whitespace
_CJK_WORD = re.compile(f"[{_CJK_MARKS}]*[{_CJK_LETTERS}][{_CJK_MARKS}]*|[{_CJK_MARKS}]+"
                       f"|(?:(?![{_CJK_LETTERS}{_CJK_MARKS}])\\S)+")
# a CJK full stop, exclamation or question mark (and the closing quotes or brackets after it)
# ends a sentence with or without whitespace after it
_CJK_SENTENCE_END = re.compile(
    "[\u3002\uff01\uff1f]+[\u300d\u300f\uff09\u3015\u3011\u3009\u300b\u201d\u2019]*")
_SPACES = re.compile(r"\s*")
_NON_SPACE = re.compile(r"\S+")
# the word units of a CJK sentence (`split_clauses(words=True)`): cut after CJK punctuation
# and at whitespace only, so the cut lead ends at a comma, not inside a word
_CJK_PHRASE = re.compile(f"[^\\s{_CJK_MARKS}]*[{_CJK_MARKS}]+|\\S+")
# where a sentence may be cut into clauses: after ; or : (not '::'), after a comma before a
# word that opens a clause, before a dash between spaces
_CLAUSE_BREAK = re.compile(
    r"(?<=[;,])\s+(?=(?:and|but|or|nor|which|who|whose|while|whereas|where|because|so|yet|"
    r"although|though|when|whenever|if|unless|since|until|after|before|as|then|thus|"
    r"otherwise|including|except|e\.g\.|i\.e\.)\b)"
    r"|(?<=[;])\s+|(?<=[^:]:)\s+(?=\S)|\s+(?=(?:--|\u2014|\u2013)\s)"
    r"|(?<=[\uff1b\uff1a])\s*(?=\S)")  # and after a CJK semicolon or colon
# fine clause units (`fine=True`) also break after every other comma: the short briefs'
# measured pick weighs them to use budget whole clauses leave unused (twelfth round)
_FINE_CLAUSE_BREAK = re.compile(_CLAUSE_BREAK.pattern + r"|(?<=,)\s+|(?<=[\uff0c\u3001])\s*(?=\S)")
# a piece shorter than this is no clause ("However,", "Note:"): it joins the next one
MIN_CLAUSE_WORDS = 3
_ABBREVIATIONS = frozenset((
    "e.g", "i.e", "etc", "vs", "cf", "al", "approx", "no", "nos", "fig", "figs", "eq", "dr",
    "mr", "mrs", "ms", "st", "jr", "sr", "inc", "ltd", "co", "corp", "dept", "est", "min",
    "max", "resp", "ref", "sec", "ch", "vol", "pp"))


@dataclass
class Unit:
    """The smallest piece of a brief that is kept or dropped as a whole."""

    kind: str  # sentence, item, heading, code, table, row, tablehead, front, quote, directive,
    # comment, line (a commented file's setting or code line)
    text: str  # what the model reads
    words: int  # words it adds to the output (`count_words`: markup included)
    block: int
    context: tuple[int, ...] = ()  # units kept with it: enclosing headings and list items
    # a piece of a sentence over the budget (`OVERSIZED_START`): written with the sentence's
    # line breaks, on a new line if it begins one (`line_start`)
    piece: bool = False
    line_start: bool = False
    # the last piece, all after the budget's words: never kept (it comes with the whole
    # budget's start), yet no block is left out (that start may be kept)
    rest: bool = False
    # a piece that follows the piece before it with no whitespace in the source (a cut
    # between a CJK letter and a Latin word): written right after it
    glued: bool = False


@dataclass
class Block:
    kind: str  # paragraph, or the kind of its one unit
    lines: list[str]
    units: list[int] = field(default_factory=list)
    blank_before: bool = False
    # a table split into rows: its units are [head, row, row, ...]; `parts` holds their lines
    # and `tail` the lines closing the table (a simple table's bottom border), kept with the head
    parts: list[list[str]] | None = None
    tail: list[str] = field(default_factory=list)
    # a list item split into sentences: its marker (indentation included), written before
    # the kept sentences when only some are kept
    head: str | None = None
    # a run of `#` comment lines (`COMMENT_RUNS`): per unit, the marks of the line it
    # begins on, written before it when it begins a line of a partly kept run
    marks: list[str] | None = None
    # a rule line right under the block (a setext underline, `1. Item` over `-----`): the
    # unit that pays for it (a heading's own; else an `underline` unit, the context of each
    # of the block's units) and the line, written after the block's whenever it is kept
    under: tuple[int, str] | None = None
    # a horizontal rule's block: whether a blank line follows it in the brief (after a rule,
    # the next block is read as after a blank line, as it was before rules were kept)
    blank_after: bool = True


@dataclass
class Document:
    blocks: list[Block]
    units: list[Unit]
    duplicates: set[int]  # units whose text repeats an earlier unit's: never kept
    line_ending: str = "\n"  # the brief's own ("\r\n" from Windows), which render keeps


def count_words(text: str) -> int:
    """Words as `wc -w` counts them (runs of non-whitespace, markup included), except that
    each Chinese or Japanese character is a word and their punctuation none, as word
    processors count them. So the count does not change where whitespace between two CJK
    characters comes or goes (a wrapped line joined): the budget holds however the kept
    text is laid out."""
    if not _CJK_EDGE.search(text):
        return len(text.split())
    return len(_CJK_COUNTED.findall(text))


def words_of(text: str) -> list[tuple[str, bool]]:
    """All of `text` but its whitespace, cut into words where it may be cut: a CJK
    character with the CJK punctuation around it, a run of that punctuation alone (no word
    to `count_words`), or a run of other non-whitespace; each with whether it follows the
    word before it with no whitespace between (`轮换TLS证书`: TLS and 证 do)."""
    if not _CJK_EDGE.search(text):
        return [(word, False) for word in text.split()]
    out, end = [], -1
    for match in _CJK_WORD.finditer(text):
        out.append((match.group(), match.start() == end))
        end = match.end()
    return out


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where each word `count_words` counts starts and ends in `text`."""
    counted = _CJK_COUNTED if _CJK_EDGE.search(text) else _NON_SPACE
    return [m.span() for m in counted.finditer(text)]


has_cjk = cjk.has_letter


def _spaced(before: str, after: str, glued: bool = False) -> str:
    """What goes between two kept pieces of text: nothing where the source had nothing
    (`glued`), between two CJK characters (a sentence, word or wrapped line of a script
    written without spaces) or after CJK punctuation (it carries its own space: `器。PC` as
    the source writes it, where a space after 。 was 32 of the spaces 120 Chinese kernel
    docs' outputs held and their sources did not), else a space."""
    if glued:
        return ""
    if not before or not after:
        return " "
    if _CJK_MARK.match(before[-1]):
        return ""
    return "" if _CJK_EDGE.match(before[-1]) and _CJK_EDGE.match(after[0]) else " "


def _joined(before: str, after: str, glued: bool = False) -> str:
    """Two pieces of kept text as one, `_spaced` between them (`after` alone when `before`
    is empty)."""
    return before + _spaced(before, after, glued) + after if before else after


def _squeezed(text: str) -> str:
    """`text` with each run of whitespace one space, or none between two CJK characters
    (a line wrapped inside a sentence of a script written without spaces)."""
    parts = text.split()
    if not has_cjk(text):
        return " ".join(parts)
    out = parts[:1]
    for part in parts[1:]:
        out.append(_spaced(out[-1], part) + part)
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _columns(line: str, tab_stop: int | None) -> int:
    """The columns of a line's indentation, a tab reaching the next multiple of `tab_stop`
    (None: one column, as `_indent` counts)."""
    indent = _indent(line)
    return len(line[:indent].expandtabs(tab_stop)) if tab_stop else indent


def _clean_line(line: str) -> str:
    """Lossless for the meaning: runs of spaces inside a line become one; the indentation
    (which carries structure) and the words stay."""
    stripped = line.rstrip()
    body = stripped.lstrip()
    return stripped[:len(stripped) - len(body)] + re.sub(r"[ \t]{2,}", " ", body)


def _verbatim_text(lines: list[str]) -> str:
    """What the model reads of lines kept byte for byte (code, a table): the spaces at
    their ends are no words, and left out as before they were kept."""
    return "\n".join(line.rstrip() for line in lines)


def _mark_end(line: str) -> int:
    """Where a comment line's text begins, after its marks (`_COMMENT_MARK`)."""
    match = _COMMENT_MARK.match(line)
    return match.end() if match else 0


def _fence_end(lines: list[str], start: int) -> int:
    """Index after the fenced block opening at `start` (to the end when never closed)."""
    match = _FENCE.match(lines[start])
    assert match
    mark = match.group(2)
    closing = re.compile(rf"^\s*{re.escape(mark[0])}{{{len(mark)},}}\s*$")
    for j in range(start + 1, len(lines)):
        if closing.match(lines[j]):
            return j + 1
    return len(lines)


def _raw_closes(lines: list[str], tag: str) -> list[int | None]:
    """For each line, the index after the first line from it on that holds `</tag>` (None:
    none does), in one pass from the end: looking ahead from every `<pre>` that never closes
    was quadratic (16,000 such lines: 26 s)."""
    close = _RAW_CLOSE[tag]
    out: list[int | None] = [None] * (len(lines) + 1)
    for j in range(len(lines) - 1, -1, -1):
        out[j] = j + 1 if close.search(lines[j]) else out[j + 1]
    return out


def _clean_lines(lines: list[str]) -> list[str]:
    """A paragraph's or list item's lines with a line that repeats the one before it dropped
    and runs of spaces squeezed (`_clean_line`), but a fenced block inside (an item's code;
    a paragraph ends at a fence) as it is: there two equal lines, and the spaces (at the
    lines' ends too), are the code's."""
    out, k = [], 0
    while k < len(lines):
        if _FENCE.match(lines[k]):
            end = _fence_end(lines, k)
            out += lines[k:end]
            k = end
            continue
        line = lines[k]
        if k == 0 or line.strip() != lines[k - 1].strip() or not line.strip():
            out.append(_clean_line(line))
        k += 1
    return out


def _comment_end(lines: list[str], start: int) -> int:
    """Index after the HTML comment opening at `start` (to the end when never closed)."""
    if "-->" in lines[start].split("<!--", 1)[1]:
        return start + 1
    for j in range(start + 1, len(lines)):
        if "-->" in lines[j]:
            return j + 1
    return len(lines)


def _indented_end(lines: list[str], start: int, base: int,
                  tab_stop: int | None = None, joined: int | None = None) -> int:
    """Index after the run of lines (blank ones inside included) indented deeper than
    `base` columns (`_columns`), starting at `start`; trailing blank lines are left out.
    With `joined`, a line right under one of the run (no blank line between) needs only
    to be deeper than `joined`: a printed table's header is indented deeper than its rows,
    and the rows were read as prose, joined and cut."""
    j, end = start, start
    while j < len(lines):
        if lines[j].strip():
            deeper = base if joined is None or end != j else min(base, joined)
            if _columns(lines[j], tab_stop) <= deeper:
                break
            end = j + 1
        j += 1
    return end


def _table_end(lines: list[str], i: int) -> int | None:
    """Index after a table starting at line i, or None when no table starts there."""
    line = lines[i]
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if _PIPE_ROW.match(line) or ("|" in line and _PIPE_RULE.match(nxt)):
        j = i + 1
        while j < len(lines) and lines[j].strip() and "|" in lines[j]:
            j += 1
        return j
    if _GRID_BORDER.match(line):
        j = i + 1
        while j < len(lines) and lines[j].strip()[:1] in ("+", "|"):
            j += 1
        return j
    if _SIMPLE_BORDER.match(line):
        j = i + 1
        while j < len(lines):
            if _SIMPLE_BORDER.match(lines[j]) and (j + 1 == len(lines) or not lines[j + 1].strip()):
                return j + 1
            j += 1
        return None  # a lone ==== line: an adornment, not a table
    return None


_Split = tuple[list[str], list[list[str]], list[str]]


def _split_table(lines: list[str]) -> _Split | None:
    """(head, rows, tail) of a markdown pipe table, an rst grid or simple table, or a
    flat-table/list-table directive; None when its rows cannot be told apart safely."""
    if _GRID_BORDER.match(lines[0]):
        return _split_grid(lines)
    if _SIMPLE_BORDER.match(lines[0]):
        return _split_simple(lines)
    if _DIRECTIVE.match(lines[0]):
        return _split_list_table(lines)
    head = lines[:2] if len(lines) > 1 and _PIPE_RULE.match(lines[1]) else []
    rows = [[line] for line in lines[len(head):]]
    return (head, rows, []) if len(rows) > 1 else None


def _split_grid(lines: list[str]) -> _Split | None:
    """Rows end at a full border line (a row with a spanned cell stays one row)."""
    rule = next((k for k, line in enumerate(lines) if _GRID_HEAD_RULE.match(line)), 0)
    rows: list[list[str]] = []
    start = rule + 1
    for k in range(start, len(lines)):
        if _GRID_BORDER.match(lines[k]):
            rows.append(lines[start:k + 1])
            start = k + 1
    if start != len(lines) or len(rows) < 2:
        return None
    return lines[:rule + 1], rows, []


def _split_simple(lines: list[str]) -> _Split | None:
    """A row starts where the first column has text; other lines continue the row above."""
    borders = [k for k, line in enumerate(lines) if _SIMPLE_BORDER.match(line)]
    if borders[-1] != len(lines) - 1 or len(borders) > 3:
        return None
    body_start = borders[1] + 1 if len(borders) == 3 else 1
    first_col = len(lines[0]) - len(lines[0].lstrip()) + len(lines[0].split()[0])
    rows: list[list[str]] = []
    for line in lines[body_start:-1]:
        starts = bool(line[:first_col].strip()) and not re.fullmatch(r"[\s=-]+", line)
        if starts or not rows:
            rows.append([line])
        else:
            rows[-1].append(line)
    if len(rows) < 2:
        return None
    return lines[:body_start], rows, lines[-1:]


def _split_list_table(lines: list[str]) -> _Split | None:
    """`.. flat-table::`/`.. list-table::`: directive, options and :header-rows: rows as the
    head; each top-level `* -` item a row."""
    k = 1
    header_rows = 0
    while k < len(lines) and (_OPTION.match(lines[k]) or not lines[k].strip()):
        option = re.match(r"^\s*:header-rows:\s*(\d+)", lines[k])
        header_rows = int(option.group(1)) if option else header_rows
        k += 1
    if k >= len(lines) or not lines[k].lstrip().startswith("* "):
        return None
    indent = _indent(lines[k])
    starts = [j for j in range(k, len(lines)) if _indent(lines[j]) == indent
              and lines[j].lstrip().startswith("* ")]
    if any(lines[j].strip() and _indent(lines[j]) < indent for j in range(k, len(lines))):
        return None
    bounds = [*starts, len(lines)]
    items = [_strip_blank_tail(lines[a:b]) for a, b in itertools.pairwise(bounds)]
    head = lines[:k] + [line for item in items[:header_rows] for line in item]
    rows = items[header_rows:]
    if len(rows) < 2:
        return None
    return head, rows, []


def _strip_blank_tail(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def laid_out(text: str, tab_stop: int | None = LAYOUT_TAB_STOP,
             gutters: bool = LAYOUT_GUTTERS) -> bool:
    """Whether a brief is plain text laid out by indentation: no fence, `#` heading, title
    or table (with `gutters`, no table indented less than 4 columns), and at least half of
    its words on lines indented 4 or more columns (where markdown would see indented code
    blocks); a tab reaches the next multiple of `tab_stop` columns."""
    lines = _expanded(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), tab_stop)
    indented = total = 0
    for i, line in enumerate(lines):
        if _structure_at(lines, i, gutters):
            return False
        words = count_words(line)
        total += words
        indented += words if _indent(line) >= 4 else 0
    return total > 0 and 2 * indented >= total


def _structure_at(lines: list[str], i: int, gutters: bool) -> bool:
    """Line i is markdown or reStructuredText structure: a fence, a `#` heading, a title or
    a table (with `gutters`, not one indented 4 or more columns)."""
    line = lines[i]
    return bool(_FENCE.match(line) or _ATX.match(line) or _is_title(lines, i)
                or (_table_end(lines, i) is not None and not (gutters and _indent(line) >= 4)))


def _structured(text: str, gutters: bool = LAYOUT_GUTTERS) -> bool:
    """Whether a brief has markdown or reStructuredText structure (`_structure_at`), which
    keeps it from being `laid_out`."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return any(_structure_at(lines, i, gutters) for i in range(len(lines)))


def commented(text: str, share: float | None = COMMENT_RUNS) -> bool:
    """Whether a brief is a file commented with `#` lines (`COMMENT_RUNS`): see
    `_commented`."""
    return _commented(_Parser(text).parse(), share)


def _commented(doc: Document, share: float | None) -> bool:
    """Whether the markdown reading of a brief (`doc`) has at least `COMMENT_LINES` `#`
    headings and at least `share` of them sit right above or below one of the same level,
    no blank line between: a title over its subtitle (`#` over `##`) is not a pair, and
    code (fenced, indented, a literal block) holds no heading."""
    if share is None:
        return False
    levels = [len(match.group(1)) if block.kind == "heading" and len(block.lines) == 1
              and (match := _ATX.match(block.lines[0])) else 0 for block in doc.blocks]
    paired = [False] * len(levels)
    for b in range(1, len(levels)):
        if levels[b] and levels[b] == levels[b - 1] and not doc.blocks[b].blank_before:
            paired[b - 1] = paired[b] = True
    total = sum(1 for level in levels if level)
    return total >= COMMENT_LINES and sum(paired) >= share * total


def _expanded(lines: list[str], tab_stop: int | None) -> list[str]:
    return [line.expandtabs(tab_stop) for line in lines] if tab_stop else lines


def _is_prose(lines: list[str], under: str) -> bool:
    """Lines of two sentences or more, the last ended, over a rule line shorter than they
    are: a paragraph over a horizontal rule, not a setext title (a title is kept whole or
    not at all, so notes over `---` could minify to nothing; a writer who ends sentences
    means a rule). An underline as long as its line is drawn for it: reStructuredText's
    `Who uses it? On what kinds of systems?` over as many `-` is a title."""
    if len(under.strip()) >= max(len(line.strip()) for line in lines):
        return False
    text = "\n".join(_clean_line(line) for line in lines).rstrip()
    return text.rstrip("\"')]*_").endswith((".", "!", "?")) and len(split_sentences(text)) > 1


def _is_title(lines: list[str], i: int) -> bool:
    """Line i is a one-line setext/reStructuredText title underlined by line i+1. A line of
    backticks shorter than the title is a markdown fence, not an underline ("Debian/Ubuntu:"
    over "```" lost the fence, and code and prose swapped for the rest of the brief; a
    kernel doc's "``regdump``" over as many backticks is a title, with a blank line under
    it, where a fence has its code: "Or:" over "```"); one of another character
    than setext's `=` and `-`, shorter than 4 and than the title, is none either (docutils
    reads it as text: "too short for the title"), so "~~~" fences stay fences too."""
    line = lines[i]
    if i + 1 >= len(lines) or not line.strip() or _indent(line) > 3:
        return False
    under = lines[i + 1]
    if not _ADORNMENT.match(under) or _ADORNMENT.match(line) or not (
            i == 0 or not lines[i - 1].strip() or _ADORNMENT.match(lines[i - 1])):
        return False
    mark, length = under.strip()[0], len(under.strip())
    if _is_prose([line], under):
        return False
    if (item := _ITEM.match(line)) is not None:
        # a numbered title underlined to its length at least (`1. Definitions` over
        # `--------------`, as the MPL and docutils read it): read as a list item, its
        # section's text kept without it, or it without its text
        return item.group(2)[:1].isdigit() and length >= len(line.strip())
    if mark == "`" and i + 2 < len(lines) and lines[i + 2].strip():
        # "Or:" over a bare fence and its code: every backtick underline of the corpora's
        # rST (16) has a blank line under it, and a fence has its code
        return False
    return length >= len(line.strip()) or mark in "=-" or (mark != "`" and length >= 4)


def split_sentences(text: str) -> list[str]:
    """Sentence texts whose concatenation (with the whitespace between) is `text`. No
    sentence ends inside a span of markdown (`_SPAN`): a kept part of it would be broken
    markup (a stray `**`, a link's text without its target)."""
    pieces, start = [], 0
    inside = _Spans(text)
    for match in _SENTENCE_END.finditer(text):
        if inside(match.start(1)):
            continue  # "**Note: it is unsigned. Allow it first.**": one sentence
        before = text[start:match.start()].rstrip("\"')]*_.!?")
        last = before.rsplit(None, 1)[-1] if before.split() else ""
        word = last.lstrip("(\"'*_`").lower()
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue  # "e.g. Foo", "J. Smith": not an end
        if _in_token(text, match.start(), match.start(1)):
            continue  # '"ssh://..." URLs', '[OPTION...] PATTERNS', '"?" Matches': not an end
        pieces.append(text[start:match.start(1)])
        start = match.end(1)
    pieces.append(text[start:])
    if has_cjk(text):
        pieces = [cut for piece in pieces for cut in _cjk_sentences(piece)]
    return [p for p in pieces if p.strip()]


def _in_token(text: str, end: int, closed: int) -> bool:
    """Whether the end marks just before `end` (`.`, `!`, `?`, then up to `closed` the
    quotes, brackets or emphasis after them) sit inside a token, not at a sentence's end:
    an ellipsis right before a closing bracket (`[FILE...]`, `f(...)`: a placeholder), or
    before a quote or bracket opened in the same token, white space-free (`"ssh://..."`);
    end marks quoted or bracketed with no letter or digit before them in that token
    (`"."`, `"?"`, `(?)`: a term, not a sentence); an ellipsis that is a word of its own
    (`PATTERNS ... [FILE...]`: the synopsis' "and more") or right after a bracket or a
    placeholder in capitals, before another on its line (`[OPTION]... [FILE]...`,
    `SOURCE... DIRECTORY`: the synopsis' "one or more"; a man page's was cut after
    `[OPTION]...`; at a line's end, `kill-user USER...` over its description, or before
    a word, `SAMI... MediaInfo supplies`, it ends one); a `?` right after a brace
    closed in its token (`{m,n}?`: a regular expression's; braces are no prose). A quoted
    word that ends a sentence (`He said "stop." Then ...`) or a quoted span with white
    space (`"I will." Then`) still ends one."""
    marks = end
    while marks > 0 and text[marks - 1] in ".!?":
        marks -= 1
    token_start = marks
    while token_start > 0 and not text[token_start - 1].isspace():
        token_start -= 1
    token, closers = text[token_start:marks], text[end:closed]
    ellipsis = end - marks >= 2 and text[end - 1] == "."
    if ellipsis and closers[:1] in (")", "]", "}"):
        return True
    if ellipsis and not token:
        return True
    if ellipsis and (token.endswith("]") or _PLACEHOLDER.fullmatch(token)) \
            and _SYNOPSIS_NEXT.match(text, closed):
        return True
    opened = [_OPENERS[c] for c in closers if c in _OPENERS and _OPENERS[c] in token]
    if opened:
        inside = token[token.rfind(opened[0]) + 1:]
        if ellipsis or not any(ch.isalnum() for ch in inside):
            return True
    return not closers and text[end - 1] == "?" and end - marks == 1 and \
        token.endswith("}") and "{" in token


# a span of markdown no sentence ends inside: inline code, strong emphasis (`**kwargs` is
# none: a span's closing marks follow a non-space and precede no letter; at most 500
# characters, so a page of unclosed `**` is not searched to its end from each), a link's text
# with its target (`[Read this. Then that](url)`, `[text][label]`), an HTML comment inside a
# paragraph (`<!--` indented 4 or more is no block of its own; at most 2,000 characters)
_SPAN = re.compile(r"(`+)(?=\S)[^`]*?(?<=\S)\1(?![\w`])"
                   r"|(?<![\w*])\*\*(?=\S).{0,500}?(?<=\S)\*\*(?![\w*])"
                   r"|\[[^\[\]]*\]\([^()\s]*\)|\[[^\[\]]*\]\[[^\[\]]*\]"
                   r"|<!--.{0,2000}?-->", re.S)
_SPAN_MARKS = re.compile(r"`|\*\*|\]\(|\]\[|<!--")  # (most paragraphs have none)


class _Spans:
    """Whether a position of a text is strictly inside one of its markdown spans (`_SPAN`),
    by bisection: a page-long paragraph has thousands of both."""

    def __init__(self, text: str) -> None:
        found = [m.span() for m in _SPAN.finditer(text)] if _SPAN_MARKS.search(text) else []
        self.starts = [a for a, _ in found]
        self.ends = [b for _, b in found]

    def __call__(self, position: int) -> bool:
        return self.around(position)[0] != position

    def around(self, position: int) -> tuple[int, int]:
        """(start, end) of the span `position` is inside of, else (position, position)."""
        k = bisect_left(self.starts, position) - 1
        return (self.starts[k], self.ends[k]) if k >= 0 and position < self.ends[k] \
            else (position, position)


# the quote or bracket that each closing one closes (`_in_token`)
_OPENERS = {'"': '"', "'": "'", ")": "(", "]": "[", "}": "{"}


def _cjk_sentences(text: str) -> list[str]:
    """`text` cut after each CJK sentence end that has more text after it (the whitespace
    after an end left out, as between sentences)."""
    pieces, start = [], 0
    for match in _CJK_SENTENCE_END.finditer(text):
        after = _SPACES.match(text, match.end())
        if after is not None and after.end() < len(text):
            pieces.append(text[start:match.end()])
            start = after.end()
    pieces.append(text[start:])
    return pieces


def split_clauses(sentence: str, fine: bool = False, words: bool = False) -> list[str]:
    """Clause texts whose concatenation (with the whitespace between) is `sentence`; pieces
    of fewer than MIN_CLAUSE_WORDS words are joined to the next (the last to the one before).
    `fine` also breaks after every comma; `words` after every word (one word a piece)."""
    if words:
        if has_cjk(sentence):
            return _CJK_PHRASE.findall(sentence)
        inside = _Spans(sentence)
        cuts: list[tuple[int, int]] = []  # a span's words are one (no cut inside a link)
        for word in _NON_SPACE.finditer(sentence):
            if cuts and inside(word.start()):
                cuts[-1] = (cuts[-1][0], word.end())
            else:
                cuts.append(word.span())
        found = [sentence[a:b] for a, b in cuts]
        # a first word of marks alone (`##` of a heading, a quote's `>`) would be a cut
        # lead that says nothing: it joins the word after it
        while len(found) > 1 and not any(ch.isalnum() for ch in found[0]):
            found[:2] = [f"{found[0]} {found[1]}"]
        return found
    pieces, start = [], 0
    inside = _Spans(sentence)
    for match in (_FINE_CLAUSE_BREAK if fine else _CLAUSE_BREAK).finditer(sentence):
        if inside(match.start()):
            continue  # (as between sentences: no cut inside a link or `**bold, text**`)
        pieces.append(sentence[start:match.start()])
        start = match.end()
    pieces.append(sentence[start:])
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        carry = _joined(carry, piece)
        if count_words(carry) >= MIN_CLAUSE_WORDS:
            merged.append(carry)
            carry = ""
    if carry:
        if merged:
            merged[-1] = _joined(merged[-1], carry)
        else:
            merged.append(carry)
    return merged


class _Parser:
    """A line-based reader of markdown and reStructuredText, lenient like a person reading."""

    def __init__(self, text: str, split_over: int | None = None, clauses: bool = False,
                 atx_headings: bool = True, fine_clauses: bool = False,
                 words: bool = False, layout: bool = False,
                 tab_stop: int | None = LAYOUT_TAB_STOP, gutters: bool = LAYOUT_GUTTERS,
                 oversized_start: bool = OVERSIZED_START, lead_ins: int = LEAD_INS,
                 comments: bool = False, code_tab_stop: int | None = None) -> None:
        self.split_over = split_over
        # where an indented code block is looked for, a tab reaches the next multiple of
        # this many columns (`MARKDOWN_TAB_STOP`; None: one column)
        self.code_tab_stop = code_tab_stop
        self.comments = comments  # `#` lines are comments (`COMMENT_RUNS`), not headings
        self.oversized_start = oversized_start
        self.lead_ins = lead_ins
        self.layout = layout  # indentation is layout (`laid_out`), not code
        self.clauses = clauses
        self.fine_clauses = fine_clauses
        self.words = words
        self.sentence_of: dict[int, int] = {}  # a clause or word unit: its sentence's first
        self.definitions: list[tuple[int, str]] = []  # (unit, label) of each definition
        self.rst_sections: dict[int, tuple[int, ...]] = {}  # an rST target's own context
        # the HTML elements open around blocks: (the line of the closing tag, opening unit)
        self.elements: list[tuple[int, int]] = []
        # where the last `:` of the open Markdown Extra terms (`_colon_term_open`) stands
        self.colon_indent = 0
        self.atx_headings = atx_headings
        ending = _LINE_END.search(text)
        self.line_ending = ending.group() if ending else "\n"
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        # laid out, a tab is read (and a kept line written) as the columns it shows
        self.lines = _expanded(text.split("\n"), tab_stop if layout else None)
        if layout and gutters:  # read (and kept) as the indentation it frames
            self.lines = [_GUTTER.sub(r"\1 ", line) for line in self.lines]
        self.blocks: list[Block] = []
        self.units: list[Unit] = []
        self.headings: list[tuple[int, int]] = []  # (level, unit) of the open sections
        self.items: list[tuple[int, int, int]] = []  # (marker indent, content indent, unit)
        self.styles: list[tuple[str, bool]] = []  # adornment styles, in order of appearance
        self.blank = False
        # a paragraph or item ending in '::': its indent and its last unit (the `::`
        # sentence), which the literal block brings as context, or docutils reads a block
        # kept without it as a quote of text, no longer code
        self.literal_after: tuple[int, int] | None = None
        self._raw_closes: dict[str, list[int | None]] = {}  # see `_raw_closes`, on first use

    def parse(self) -> Document:
        lines, i = self.lines, 0
        # front matter: YAML's `---` (to `---` or `...`), or TOML's `+++` (Hugo, Zola)
        if lines and (mark := lines[0].strip()) in ("---", "+++"):
            for j in range(1, len(lines)):
                if lines[j].strip() in ((mark, "...") if mark == "---" else (mark,)):
                    self._atomic("front", lines[:j + 1])
                    i = j + 1
                    break
        while i < len(lines):
            i = self._step(i)
        for _, opening in self.elements:  # its closing line was read inside a block
            self.units[opening].kind = "sentence"
        if self.lead_ins:
            self._mark_lead_ins()
        self._point_at_definitions()
        self._close_contexts()
        return Document(self.blocks, self.units, self._duplicates(), self.line_ending)

    def _close_contexts(self) -> None:
        """Each unit's context holds its context's context too (an item's underline, the
        heading over an HTML element's opening): a selection marks the context it brings as
        kept, and rendering brings theirs, so a context's context left out of the price
        overspent the budget (`1. Title` over `=====`, a sentence under it: one word)."""
        # each closed unit's context as a bit set: a walk skips a unit that brings nothing
        # new (a clause's context is every clause before it, so the walk over a run-on
        # sentence cut into word units, a short brief's lead cut, was cubic: 16 s for 444
        # words; membership in a list made it quartic)
        closed_sets: list[int] = []
        for index, unit in enumerate(self.units):
            closed = list(unit.context)
            seen = sum(1 << c for c in set(closed))
            for c in closed:  # (grows as it goes: a breadth-first walk)
                if c < index and not closed_sets[c] & ~seen & ~(1 << index):
                    continue  # (c's context is closed already, and all in)
                for d in self.units[c].context:
                    if d != index and not seen >> d & 1:
                        closed.append(d)
                        seen |= 1 << d
            unit.context = tuple(closed)
            closed_sets.append(seen)

    def _mark_lead_ins(self) -> None:
        """`LEAD_INS`: a one-line paragraph that ends no sentence and comes right before
        list items (blank lines between or none), when at least `lead_ins` of them share
        its first word, becomes the context of every unit of that run of items."""
        blocks = [block for block in self.blocks if block.kind != "rule"]  # (as before
        # rules were kept: a rule between a lead-in and its list is layout)
        found = [(b, block.lines[0].split()[0]) for b, block in enumerate(blocks[:-1])
                 if block.kind == "paragraph" and len(block.lines) == 1
                 and not _ENDS_SENTENCE.search(block.lines[0].rstrip())
                 and blocks[b + 1].kind == "item"
                 and block.marks is None and block.under is None
                 and not any(self.units[u].piece for u in block.units)]
        firsts = Counter(first for _, first in found)
        for b, first in found:
            if firsts[first] < self.lead_ins:
                continue
            block = blocks[b]
            for u in block.units:
                self.units[u].kind = "leadin"
            for item in itertools.takewhile(lambda k: k.kind == "item", blocks[b + 1:]):
                for u in item.units:
                    self.units[u].context += tuple(block.units)

    def _point_at_definitions(self) -> None:
        """A unit whose text (or its context's: a heading's) holds `[label]` of a link's or
        footnote's definition brings that definition as context, so a kept link never
        loses its target and a definition is kept only with a link to it. A definition
        nothing points at is a sentence, as any line of text."""
        labels: dict[str, int] = {}
        for index, label in self.definitions:
            labels.setdefault(label, index)  # the first one counts (CommonMark)
        pointed: set[int] = set()
        rst = any(label.startswith("rst:") for label in labels)
        substitutions = any(label.startswith("sub:") for label in labels)
        for unit in self.units if labels else ():
            # (code too: MyST's fenced ```{note} blocks hold links; a false match costs a
            # definition's few words)
            if unit.kind in ("definition", "front", "comment"):
                continue
            texts = " ".join([*(self.units[c].text for c in unit.context), unit.text])
            found = [labels[label] for match in _BRACKETED.finditer(texts)
                     if (label := _label(match.group(1))) in labels]
            if rst:
                found += [labels[label] for match in _RST_REFERENCE.finditer(texts)
                          if (label := "rst:" + _label(next(g for g in match.groups() if g)))
                          in labels]
            if substitutions and "|" in texts:
                found += [labels[label] for match in _RST_SUBSTITUTION_REFERENCE.finditer(texts)
                          if (label := "sub:" + _label(match.group(1))) in labels]
            unit.context += tuple(d for d in dict.fromkeys(found) if d not in unit.context)
            pointed.update(found)
        for index, _ in self.definitions:
            if index in pointed:
                continue
            if index in self.rst_sections:  # an rST target: the directive it was
                self.units[index].kind = "directive"
                self.units[index].context = self.rst_sections[index]
            else:
                self.units[index].kind = "sentence"

    def _step(self, i: int) -> int:
        lines, line = self.lines, self.lines[i]
        if not line.strip():
            self.blank = True
            return i + 1
        while self.elements and self.elements[-1][0] < i:  # its closing line was read as
            self.units[self.elements.pop()[1]].kind = "sentence"  # text: no element
        if self.elements and self.elements[-1][0] == i:
            return self._element_end(i)
        indent = _indent(line)
        if self._colon_term_open():
            if (definition := _COLON_DEFINITION.match(line)) is not None:
                self.colon_indent = indent
                return self._item(i, definition)  # (the term stays open over it)
            if indent <= self.colon_indent:  # (deeper: a block inside a definition)
                self._close_colon_terms()
        if self.layout:  # a laid-out heading governs only the lines deeper than it
            while self.headings and self.headings[-1][0] > indent:
                self.headings.pop()
        literal, self.literal_after = self.literal_after, None
        if literal is not None and self.blank and indent > literal[0]:
            end = _indented_end(lines, i, literal[0])
            self._close_items(indent)
            self._atomic("code", lines[i:end])
            self.units[-1].context += (literal[1],)
            if self.units[literal[1]].kind == "sentence":
                # and the sentence is kept only with its block: alone, docutils warns
                # "Literal block expected; none found"
                self.units[literal[1]].kind = "leadin"
            return end
        if _FENCE.match(line):
            self._close_items(indent)
            end = _fence_end(lines, i)
            self._atomic("code", lines[i:end])
            return end
        # an unclosed <pre> is read as text: one stray tag must not make the rest one block
        if (raw := _RAW.match(line)) and (raw_end := self._raw_end(i, raw.group(1))) is not None:
            self._close_items(indent)
            self._atomic("code", lines[i:raw_end])
            return raw_end
        if line.strip() == "$$" and (math_end := self._math_end(i)) is not None:
            # display math (MathJax, KaTeX, MyST): a formula's `\text{…}` can end sentences
            self._close_items(indent)
            self._atomic("code", lines[i:math_end])
            return math_end
        if _COMMENT.match(line):
            # one unit, like a code block: its lines may look like list items (Node's YAML
            # history), and a comment cut before its `-->` hides all that follows it
            end = _comment_end(lines, i)
            self._close_items(indent)
            self._atomic("comment", lines[i:end])
            return end
        if self.comments and _HASH_LINE.match(line):
            return self._comment_lines(i)
        if self.atx_headings and (atx := _ATX.match(line)):
            self._heading(len(atx.group(1)), [line], atx.group(2))
            return i + 1
        if _ADORNMENT.match(line) and i + 2 < len(lines) and lines[i + 1].strip() \
                and lines[i + 2].rstrip() == line.rstrip():
            self._heading(self._style_level(line.strip()[0], True), lines[i:i + 3],
                          lines[i + 1].strip())
            return i + 3
        if _is_title(lines, i):
            self._heading(self._style_level(lines[i + 1].strip()[0], False), lines[i:i + 2],
                          line.strip())
            return i + 2
        if (table_end := _table_end(lines, i)) is not None:
            self._close_items(indent)
            self._table(lines[i:table_end])
            return table_end
        if _ADORNMENT.match(line):  # a rule / transition: layout, little meaning
            if self.blank:  # (a transition ends a definition list)
                self._close_items(indent, terms_only=True)
            self._rule(i)
            return i + 1
        if directive := _DIRECTIVE.match(line):
            self._close_items(indent)
            end = max(i + 1, _indented_end(lines, i + 1, len(directive.group(1))))
            if _TABLE_DIRECTIVE.match(line):
                self._table(lines[i:end], "directive")
            else:
                self._atomic("directive", lines[i:end])
                if (target := _RST_TARGET.match(line)) and (
                        label := (target.group(1) or target.group(2)).strip("`")) not in "#*":
                    label = "rst:" + _label(label)
                elif substitution := _RST_SUBSTITUTION.match(line):
                    label = "sub:" + _label(substitution.group(1))
                else:
                    label = ""
                if label:
                    unit = len(self.units) - 1  # kept only with a reference, as a link's
                    self.rst_sections[unit] = self.units[unit].context
                    self.units[unit].kind, self.units[unit].context = "definition", ()
                    self.definitions.append((unit, label))
            return end
        if _DOCTEST.match(line) and not self._opens_indented_code(line):
            # a doctest block (a Python session: `>>>` lines and the results under them) to
            # its blank line, whole as code: read as a quote, its results were lines of text
            # of their own, kept under another statement than theirs (indented 4 or more
            # under a paragraph it is markdown's indented code, blank lines and all)
            self._close_items(indent)
            end = self._paragraph_end(i)
            self._atomic("code", lines[i:end])
            return end
        if _QUOTE.match(line):
            self._close_items(indent)
            self._atomic("quote", lines[i:(end := self._quote_end(i))])
            return end
        if (definition := _DEFINITION.match(line)) and (definition.group(2) or (
                i + 1 < len(lines) and _DESTINATION.match(lines[i + 1])
                and not _PIPE_ROW.match(lines[i + 1]) and not self._starts_block(i + 1))):
            return self._definition(i, definition.group(1), definition.group(2) is None)
        if (opening := _HTML_OPEN.match(line)) \
                and (close := self._element_close(i, end := self._paragraph_end(i, raw=True),
                                                  opening.group(1))) is not None:
            return self._element(i, end, close)
        if self.layout and self._heads_deeper_lines(i):
            self._heading(indent + 1, [line], line.strip())
            return i + 1
        if item := _ITEM.match(line) or self._option_item(i):
            return self._item(i, item)
        if self._opens_indented_code(line):
            # markdown's indented code block (reStructuredText's block quote: kept whole too)
            columns = _columns(line, self.code_tab_stop)
            end = _indented_end(lines, i, columns - 1, self.code_tab_stop, joined=3)
            self._atomic("code", lines[i:end])
            return end
        if DEFINITION_TERMS and not self.layout and not self.comments:
            if self._is_colon_term(i):
                return self._colon_term(i)
            if self._is_term(i):
                return self._term(i)
        return self._paragraph(i)

    def _opens_indented_code(self, line: str) -> bool:
        """Whether this line, indented 4 or more after a blank line, opens markdown's
        indented code block (not laid-out text, not a list item's or directive's body)."""
        last = self._last_block()
        columns = _columns(line, self.code_tab_stop)
        # under a definition list's term, 4 columns deeper than its definition (a list
        # item's body reads no code: as before terms)
        base = max(self.items[-1][1], 0) if self.items \
            and all(self._is_term_unit(u) for _, _, u in self.items) else None
        # (an option list's item is no open item: what follows its description is not in it)
        return not self.layout and self.blank and (not self.items or base is not None) \
            and columns >= 4 + (base or 0) and last is not None \
            and (last.kind not in ("item", "directive") or bool(_OPTION_ITEM.match(last.lines[0])))

    # -- blocks ----------------------------------------------------------------------------

    def _math_end(self, start: int) -> int | None:
        """Index after the `$$` line closing the display math opened at line `start`; None
        when none does (a lone `$$` is text)."""
        return next((j + 1 for j in range(start + 1, len(self.lines))
                     if self.lines[j].strip() == "$$"), None)

    def _raw_end(self, start: int, tag: str) -> int | None:
        """Index after the raw HTML block (`_RAW`: `<pre>`, `<style>` …) opening at line
        `start` with `tag`; None when it never closes."""
        tag = tag.lower()
        if tag not in self._raw_closes:
            self._raw_closes[tag] = _raw_closes(self.lines, tag)
        return self._raw_closes[tag][start]

    def _context(self) -> tuple[int, ...]:
        return tuple(u for _, u in self.headings) + tuple(u for _, _, u in self.items)

    def _last_block(self) -> Block | None:
        """The last block read, horizontal rules left out (read as blank lines only)."""
        return next((block for block in reversed(self.blocks) if block.kind != "rule"), None)

    def _rule(self, i: int) -> None:
        """A line of one repeated mark (`---`, `***`, `=====`) that is no title's: right
        under a heading, a paragraph (but sentences over a shorter line: `_is_prose`) or a
        list item of words (no blank line between), it belongs to that block (a setext
        underline: without it a heading reads as body text), paid for and written whenever
        the block is; else a horizontal rule, a block of its own whose unit is the context
        of nothing, so it is kept only with the whole brief (at `--ratio 1`). Either way
        the parser reads on as after a blank line."""
        line = _clean_line(self.lines[i])
        last = self.blocks[-1] if self.blocks else None
        if not self.blank and last is not None and last.marks is None \
                and last.under is None and last.kind in ("heading", "paragraph", "item") \
                and any(ch.isalnum() for text in last.lines for ch in text) \
                and not (last.kind == "paragraph" and _is_prose(last.lines, line)):
            if last.kind == "heading":  # a context unit: it pays for the line
                under = last.units[0]
                self.units[under].words += count_words(line)
            else:  # (no text: the line is no meaning for the model, as before it was kept)
                under = len(self.units)
                self.units.append(Unit("underline", "", count_words(line),
                                       len(self.blocks) - 1))
                for unit in last.units:
                    self.units[unit].context += (under,)
                    if last.kind == "paragraph":  # a heading of lines: kept whole, or a
                        # start of it cut above its underline read as a shorter heading
                        self.units[unit].context += tuple(u for u in last.units if u != unit)
            last.under = (under, line)
            self.blank = True
            return
        # (no context: kept with the whole brief only, it brings no repeated list item)
        block = self._markup_line("rule", line)
        block.blank_after = i + 1 >= len(self.lines) or not self.lines[i + 1].strip()
        self.blank = True

    def _markup_line(self, kind: str, line: str) -> Block:
        """A block of one line of markup (a rule, a closing tag): one unit with no text for
        the model and no context, paying for the line's words."""
        block = self._add(kind, [line], [(kind, "")])
        self.units[block.units[0]] = Unit(kind, "", count_words(line), len(self.blocks) - 1)
        return block

    def _add(self, kind: str, lines: list[str], texts: list[tuple[str, str]]) -> Block:
        block = Block(kind, lines, blank_before=self.blank or not self.blocks)
        context = self._context()
        for unit_kind, text in texts:
            block.units.append(len(self.units))
            self.units.append(Unit(unit_kind, text, count_words(text), len(self.blocks),
                                   context))
        self.blocks.append(block)
        self.blank = False
        return block

    def _atomic(self, kind: str, lines: list[str]) -> None:
        # layout is meaning: verbatim, the spaces at the lines' ends too (a directive's body
        # is often code: `.. code-block::`; a quote holds code, tables and nested lists too,
        # which squeezed spaces broke, `--ratio 1` included)
        self._add(kind, lines, [(kind, _verbatim_text(lines))])

    def _definition(self, i: int, label: str, destination_below: bool = False) -> int:
        """A link's or footnote's definition, with the lines that continue it (a link's
        destination when it is not on the label's line, and its title; a footnote's wrapped
        text, up to a blank line or another block): a block of its own, in no section (it
        belongs to the links to it, wherever they are)."""
        lines = self.lines
        end = i + 2 if destination_below else i + 1
        # (after a link's, a line that is no title starts a paragraph, as in CommonMark)
        while end < len(lines) and lines[end].strip() and not _DEFINITION.match(lines[end]) \
                and not self._starts_block(end) \
                and (label.startswith("^") or lines[end].lstrip()[0] in "\"'("):
            end += 1
        first = end
        if label.startswith("^"):
            end = self._footnote_end(i, end)
        self._close_items(_indent(lines[i]))
        # (a later paragraph's lines 4 deeper than it are code: as written)
        code = _indent(lines[i]) + 2 * MARKDOWN_TAB_STOP
        body = [_clean_line(line) if k < first or _columns(line, MARKDOWN_TAB_STOP) < code
                else line.rstrip() for k, line in enumerate(lines[i:end], i)]
        block = self._add("definition", body, [("definition", "\n".join(body))])
        self.units[block.units[0]].context = ()
        self.definitions.append((block.units[0], _label(label)))
        return end

    def _footnote_end(self, i: int, end: int) -> int:
        """Index after the footnote opening at line i whose first paragraph ends at `end`:
        its later paragraphs are indented 4 columns deeper, after blank lines (read as
        indented code, they were kept without the footnote, under another section)."""
        lines, deeper = self.lines, _indent(self.lines[i]) + MARKDOWN_TAB_STOP
        while True:
            j = end
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j == end or j == len(lines) or _columns(lines[j], MARKDOWN_TAB_STOP) < deeper:
                return end
            end = j + 1
            while end < len(lines) and lines[end].strip() and not _DEFINITION.match(lines[end]) \
                    and not (_columns(lines[end], MARKDOWN_TAB_STOP) < deeper
                             and self._starts_block(end)):
                end += 1

    def _element_close(self, i: int, end: int, tag: str) -> int | None:
        """The line of the closing tag alone of the HTML element opening at line `i`, whose
        opening paragraph (lines `i` to `end`) does not close it; None if there is none."""
        lines = self.lines
        opens = re.compile(rf"<{tag}(?=[\s>])", re.IGNORECASE)
        closes = re.compile(rf"</{tag}\s*>", re.IGNORECASE)
        if any(closes.search(line) for line in lines[i:end]):
            return None  # (`<div align="center"><img …></div>`: one paragraph, as before)
        depth = sum(len(opens.findall(line)) for line in lines[i:end])
        for k in range(end, len(lines)):
            depth += len(opens.findall(lines[k])) - len(closes.findall(lines[k]))
            if depth <= 0:
                return k if _HTML_CLOSE.match(lines[k]) else None
        return None

    def _paragraph_end(self, i: int, raw: bool = False) -> int:
        """Index of the first blank line after line `i` (or of the end); with `raw`, of a
        raw HTML block's first line (`<div>` right over a Jupyter export's `<style>`) or a
        fence's (`<details>` and `<summary>` right over a fenced log: the fence's paragraph
        held the closing tag, and the element was not found)."""
        end = i + 1
        while end < len(self.lines) and self.lines[end].strip() \
                and not (raw and (_RAW.match(self.lines[end]) or _FENCE.match(self.lines[end]))):
            end += 1
        return end

    def _element(self, i: int, end: int, close: int) -> int:
        """An HTML element's opening paragraph (lines `i` to `end`: `<details>` with its
        `<summary>`): a block kept exactly when a block inside the element is, with the
        closing tag's line."""
        self._close_items(_indent(self.lines[i]))
        body = [_clean_line(line) for line in self.lines[i:end]]
        block = self._add("htmlopen", body, [("htmlopen", "\n".join(body))])
        self.elements.append((close, block.units[0]))
        return end

    def _element_end(self, i: int) -> int:
        """The closing tag's line: each unit inside the element brings it and the opening."""
        _, opening = self.elements.pop()
        close = self._markup_line("htmlclose", _clean_line(self.lines[i])).units[0]
        for unit in self.units[opening + 1:close]:
            unit.context += (opening, close)
        self.blank = True  # (what follows reads as after a blank line, as after a rule)
        return i + 1

    def _table(self, lines: list[str], kind: str = "table") -> None:
        """A table as one unit; one larger than the budget (`split_over` words) as a head unit
        (header rows, separator, bottom border: kept whenever a row is) and one unit per row,
        so a kept part is still a valid table and never a cut row. Its lines are kept
        byte for byte, the spaces at their ends too."""
        split = None
        if self.split_over is not None and count_words("\n".join(lines)) > self.split_over:
            split = _split_table(lines)
        if split is None:
            self._add(kind, lines, [(kind, _verbatim_text(lines))])
            return
        head, rows, tail = split
        block = Block(kind, lines, blank_before=self.blank or not self.blocks,
                      parts=[head, *rows], tail=tail)
        context = self._context()
        head_unit = len(self.units)
        self.units.append(Unit("tablehead", _verbatim_text(head),
                               count_words("\n".join(head + tail)), len(self.blocks), context))
        block.units.append(head_unit)
        for row in rows:
            block.units.append(len(self.units))
            text = _verbatim_text(row)
            self.units.append(Unit("row", text, count_words(text), len(self.blocks),
                                   (*context, head_unit)))
        self.blocks.append(block)
        self.blank = False

    def _heading(self, level: int, lines: list[str], title: str) -> None:
        self.items.clear()
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        lines = [_clean_line(line) for line in lines]
        block = self._add("heading", lines, [("heading", title)])
        self.units[block.units[0]].words = count_words(" ".join(lines))
        self.headings.append((level, block.units[0]))

    def _style_level(self, char: str, overline: bool) -> int:
        if (char, overline) not in self.styles:
            self.styles.append((char, overline))
        return self.styles.index((char, overline)) + 1

    def _close_items(self, indent: int, terms_only: bool = False) -> None:
        """Leave the list items (`terms_only`: the definition list terms) a block at this
        indentation is not inside of."""
        while self.items and self.items[-1][1] > indent \
                and (not terms_only or self._is_term_unit(self.items[-1][2])):
            self.items.pop()

    def _is_term_unit(self, unit: int) -> bool:
        return self.units[unit].kind == "term"

    def _item(self, i: int, match: re.Match[str]) -> int:
        lines = self.lines
        marker_indent = len(match.group(1))
        self._close_items(marker_indent)  # siblings and deeper items end here
        content = match.end() if match.group(3) else match.end(2) + 1
        if match.re is _COLON_DEFINITION:  # (a definition holds every line deeper than its
            content = marker_indent + 1  # `:`, a tab-indented paragraph too)
        end, j = i + 1, i + 1
        while j < len(lines):
            line = lines[j]
            if not line.strip():
                j += 1
                continue
            deeper = _indent(line) >= content
            lazy = j == end and not deeper and not self._starts_block(j)
            if (deeper and _ITEM.match(line)) or not (deeper or lazy):
                break
            if _FENCE.match(line):
                j = _fence_end(lines, j)
            else:
                j += 1
            end = j
        body = _clean_lines(lines[i:end])
        option = match.re is _OPTION_ITEM
        if option:  # the gap after the options is the list's syntax: as written
            body[0] = lines[i][:match.end()] + _clean_line(lines[i][match.end():])
        # (the marker's end in the first line as written in `body`: `_ITEM`'s, by default)
        marker_end = None if match.re is _ITEM else (match.re.match(body[0]) or match).end()
        sentences = _item_sentences(body, self._pieces, marker_end)
        if sentences is None:  # (its code kept byte for byte in `body`)
            block = self._add("item", body, [("item", _verbatim_text(body))])
            opened = [block.units[0]]
        else:
            # marker (a context unit, paid once) and one unit per sentence: a long item may
            # keep its key sentence only; a nested block keeps the marker and first sentence
            head, pieces = sentences
            marker = len(self.units)
            self.units.append(Unit("itemhead", head.strip(), count_words(head),
                                   len(self.blocks), self._context()))
            block = self._add("item", body, [("item", p.text) for p in pieces])
            block.units.insert(0, marker)
            block.head = head
            for unit in block.units[1:]:
                self.units[unit].context += (marker,)
            self._chain(block.units, pieces)
            opened = [marker, block.units[1]]
        if not option:  # (an option's description ends with its lines: code 4 deep after
            # a blank line is code, as after the paragraph it was read as before)
            self.items.extend((marker_indent, content, unit) for unit in opened)
        if body[-1].endswith("::"):
            self.literal_after = (marker_indent, block.units[-1])
        return end

    def _is_term(self, i: int) -> bool:
        """Line i is a definition list's term (`DEFINITION_TERMS`): it heads deeper lines
        that start no block, is no HTML tag, code or a sentence's start, and was not broken
        for width (a hanging indent: with the next line's first word it would still fit the
        widest of their lines)."""
        lines = self.lines
        term = lines[i].strip()
        if not self._heads_deeper_lines(i) \
                or (self._starts_block(i + 1) and not self._option_item(i + 1)) \
                or term.startswith("<") or ";" in term or term.endswith(("{", "(", "[", "\\")):
            return False  # an HTML tag; code (`if [ -d X ]; then`, `name {`, a `\` line)
        # (CJK text breaks for width between any two letters: its first letter is its word)
        first_word = _CJK_WORD.findall(lines[i + 1])[0]
        if term[0].isupper() and count_words(term) >= 3 and first_word[0].islower():
            return False  # a sentence broken midway ("Fixed a crash when" / "the cache …")
        end = i + 2
        while end < len(lines) and lines[end].strip() \
                and _indent(lines[end]) >= _indent(lines[i + 1]) and not self._starts_block(end):
            end += 1
        width = max(len(line.rstrip().expandtabs()) for line in lines[i:end])
        return len(lines[i].rstrip().expandtabs()) + 1 + len(first_word) <= width

    def _term(self, i: int) -> int:
        """A definition list's term (`DEFINITION_TERMS`): the context of the deeper blocks
        under it, like a list item's marker, until a block as shallow as the term."""
        indent = _indent(self.lines[i])
        self.items.append((indent, _indent(self.lines[i + 1]), self._add_term(i)))
        return i + 1

    def _add_term(self, i: int) -> int:
        """Line i as a term's block (after the items it is not inside of): its unit."""
        self._close_items(_indent(self.lines[i]))
        return self._add("term", [_clean_line(self.lines[i])],
                         [("term", self.lines[i].strip())]).units[0]

    def _is_colon_term(self, i: int) -> bool:
        """Line i is a Markdown Extra term: a short line that starts no block and ends no
        sentence or clause, right over (or a blank line over) a `: definition` of words.
        (Not a `: ` or `? ` line: YAML's key and value; not a tag or code.)"""
        lines, line = self.lines, self.lines[i].strip()
        k = i + 2 if i + 2 < len(lines) and not lines[i + 1].strip() else i + 1
        return k < len(lines) and bool(_COLON_DEFINITION.match(lines[k])) \
            and count_words(line) <= LAYOUT_HEADING_WORDS and not self._starts_block(i) \
            and not line.startswith((":", "?", "<")) \
            and not line.endswith(_CLAUSE_ENDS)

    def _colon_term(self, i: int) -> int:
        """A Markdown Extra term: the context of the `: definition`s under it (each a list
        item whose marker is the `:`) and of the blocks inside them, until a block as
        shallow as a definition that is none. Read as a paragraph, `Local disk : The fastest
        backend.` came out on one line, or a definition without its term."""
        term = self._add_term(i)
        # (no deeper than a definition's `:`, so that reading one does not close it; the
        # indent -1 marks it, see `_colon_term_open`)
        self.items.append((-1, -1, term))
        return i + 1

    def _colon_term_open(self) -> bool:
        """Whether a Markdown Extra term is open: only under one does a `: ` line start a
        block (elsewhere it is text: a YAML value under its `? key`, a shell line `: | cmd`)."""
        return any(indent < 0 for indent, _, _ in self.items)

    def _close_colon_terms(self) -> None:
        """Close the open Markdown Extra terms (one nested in another's definition too), with
        the items opened under them."""
        while self._colon_term_open():
            self.items.pop()

    def _pieces(self, sentences: list[str]) -> list[_Piece]:
        """The units of a run of sentences: whole sentences, or with `clauses` each
        sentence's clauses; a sentence over the budget as its start (`OVERSIZED_START`)."""
        pieces: list[_Piece] = []
        for sentence in sentences:
            if self.oversized_start and self.split_over is not None and not self.words \
                    and count_words(sentence) > self.split_over:
                pieces.extend(_start_pieces(sentence, self.split_over))
            elif self.clauses:
                pieces.extend(_Piece(c, k) for k, c in enumerate(
                    split_clauses(sentence, self.fine_clauses, self.words)))
            else:
                pieces.append(_Piece(sentence, 0))
        return pieces

    def _chain(self, units: list[int], pieces: list[_Piece]) -> None:
        """A clause brings the clauses of its sentence before it as context: a sentence may
        lose its end, never its middle (the output reads as the brief's own sentences)."""
        units = units[len(units) - len(pieces):]
        for k, (unit, piece) in enumerate(zip(units, pieces, strict=True)):
            self.units[unit].context += tuple(units[k - piece.before:k])
            self.units[unit].piece = piece.piece
            self.units[unit].line_start = piece.line_start
            self.units[unit].rest = piece.rest
            self.units[unit].glued = piece.glued
            self.sentence_of[unit] = units[k - piece.before]

    def _quote_end(self, i: int) -> int:
        """Index after the block quote opening at line i: its `>` lines and the lazy lines
        (CommonMark's) that go on a sentence of it without a `>`: read as a paragraph of
        their own, a quoted sentence was cut in two. A line after a quoted sentence's end is
        no lazy line (an e-mail's reply right under the quote it answers), nor one after a
        quoted heading, rule, fence, table row or tag, or after a `>` with no space (a
        wrapped line that starts `>= 4.0`, a kernel doc's `>=0:`: text, not quotes), nor an
        HTML element's tag line."""
        lines, end, fenced = self.lines, i + 1, False
        while end < len(lines):
            above = lines[end - 1]
            quoted = _QUOTE.match(above) is not None
            inside = (_QUOTE_MARKS.sub("", above, count=1) if quoted else above).rstrip()
            fenced ^= quoted and bool(_FENCE.match(inside))
            if _QUOTE.match(lines[end]):
                end += 1
                continue
            text = inside.strip()
            sentence_goes_on = bool(text) and not fenced \
                and not (quoted and (not _QUOTE_SPACED.match(above)
                                     or inside.startswith(("    ", "\t")))) \
                and not (_ATX.match(inside) or _ADORNMENT.match(text) or _FENCE.match(inside)
                         or text.startswith(("|", "<")) or _ENDS_SENTENCE.search(text)
                         or text.endswith(_CJK_PAUSES[:3]))
            line = lines[end]
            if not (sentence_goes_on and line.strip() and not self._starts_block(end)
                    and not _HTML_OPEN.match(line) and not _HTML_CLOSE.match(line)):
                break
            end += 1
        return end

    def _option_item(self, j: int) -> re.Match[str] | None:
        """Line j's option list item (`_OPTION_ITEM`), outside laid-out text (a man page's
        options are its headings), commented files and indented code."""
        line = self.lines[j]
        return None if self.layout or self.comments or self._opens_indented_code(line) \
            else _OPTION_ITEM.match(line)

    def _starts_block(self, j: int) -> bool:
        line = self.lines[j]
        return bool(_ITEM.match(line) or self._option_item(j)
                    or (self._colon_term_open() and _COLON_DEFINITION.match(line))
                    or _FENCE.match(line)
                    or _ATX.match(line)
                    or _COMMENT.match(line)  # (its `-->` was left in a later paragraph)
                    or (self.comments and _HASH_LINE.match(line))
                    or _QUOTE.match(line) or _DIRECTIVE.match(line) or _RAW.match(line)
                    or line.strip() == "$$"
                    or _table_end(self.lines, j) is not None or _is_title(self.lines, j)
                    or _ADORNMENT.match(line))

    def _heads_deeper_lines(self, i: int) -> bool:
        """Line i heads the lines under it (laid out, a heading; else a term): short, no end
        punctuation, no list item, and the next line is indented deeper."""
        line, lines = self.lines[i], self.lines
        return i + 1 < len(lines) and bool(lines[i + 1].strip()) \
            and _indent(lines[i + 1]) > _indent(line) \
            and count_words(line) <= LAYOUT_HEADING_WORDS \
            and not line.rstrip().endswith(_CLAUSE_ENDS) \
            and not _ITEM.match(line)

    def _ends_paragraph(self, j: int, indent: int) -> bool:
        lines = self.lines
        if not lines[j].strip() or self._starts_block(j) or _is_title(lines, j) \
                or (self.elements and self.elements[-1][0] == j):
            return True
        if self.items and self._is_term_unit(self.items[-1][2]) \
                and _indent(lines[j]) < self.items[-1][1] and self._heads_deeper_lines(j):
            return True  # a definition ends at the next term (a shallower line that is no
            # term is a lazy line of its sentence)
        # laid out: a shallower line, or a heading, starts another block
        return self.layout and (_indent(lines[j]) < indent or self._heads_deeper_lines(j))

    def _paragraph(self, i: int) -> int:
        lines = self.lines
        indent = _indent(lines[i])
        self._close_items(indent)
        end = i + 1
        while end < len(lines) and not self._ends_paragraph(end, indent):
            end += 1
        if self.comments and not _ENDS_SENTENCE.search(lines[end - 1].rstrip()):
            # a commented file's lines that end no sentence are settings or code: each is
            # kept whole and as written, or dropped; never joined, cut or a repeat. Nested
            # ones (`if` over its body, a `Match` block) are one code block (`NESTED_CODE`)
            if NESTED_CODE and len({_indent(line) for line in lines[i:end]}) > 1:
                self._atomic("code", lines[i:end])
                return end
            for line in lines[i:end]:
                self._atomic("line", [line])
            return end
        body = _clean_lines(lines[i:end])
        text = "\n".join(line.strip() for line in body)
        pieces = self._pieces(split_sentences(text))
        block = self._add("paragraph", body, [("sentence", p.text) for p in pieces])
        self._chain(block.units, pieces)
        if text.endswith("::"):
            self.literal_after = (indent, block.units[-1])
        return end

    def _comment_lines(self, i: int) -> int:
        """A run of `#` comment lines of text (`COMMENT_RUNS`) as a paragraph of their text,
        the marks left out; a `#` line of another kind (`_COMMENT_MARK`), or a run with no
        text, is kept whole as written."""
        lines = self.lines
        self._close_items(_indent(lines[i]))
        end = i
        while end < len(lines) and _COMMENT_MARK.match(lines[end]):
            end += 1
        if end == i:
            self._atomic("line", [lines[i]])
            return i + 1
        body = [line.rstrip() for line in lines[i:end]]  # kept whole, as written: after
        # the marks, spaces may be a switched-off block's indentation
        texts = [_CLOSING_MARKS.sub("", line[_mark_end(line):]).strip() for line in body]
        joined = "\n".join(texts)
        text = joined.strip()
        if not text:
            self._atomic("line", lines[i:end])
            return end
        pieces = self._pieces(split_sentences(text))
        if MARKS_ONCE:
            mark = len(self.units)
            self.units.append(Unit("commentmark", "#", 1, len(self.blocks), self._context()))
        block = self._add("paragraph", body, [("sentence", p.text) for p in pieces])
        if MARKS_ONCE:
            block.units.insert(0, mark)
            for unit in block.units[1:]:
                self.units[unit].context += (mark,)
        units = block.units[-len(pieces):]
        self._chain(units, pieces)
        block.marks = _unit_marks(body, joined, pieces)
        if MARKS_ONCE:
            # beyond its words, a unit pays a mark on each line it must begin: a start piece
            # that begins a line, its line breaks and, in a run holding a cut sentence, each
            # sentence start (what follows a cut begins a new line: `_after_cuts`)
            cut = any(p.piece for p in pieces)
            for unit, piece in zip(units, pieces, strict=True):
                self.units[unit].words += int(piece.line_start or (cut and piece.before == 0)) \
                    + (piece.text.count("\n") if piece.piece else 0)
            return end
        # a unit pays for a mark (one word) on each line it may begin in a partly kept run,
        # the first unit for the rest of the run's marks when all is kept
        spent = 0
        for unit, piece in zip(units, pieces, strict=True):
            begun = int(piece.before == 0 or piece.line_start) \
                + (piece.text.count("\n") if piece.piece else 0)
            self.units[unit].words += begun
            spent += begun
        marks = sum(count_words(line) - count_words(line_text)
                    for line, line_text in zip(body, texts, strict=True))
        self.units[units[0]].words += max(0, marks - spent)
        return end

    def _duplicates(self) -> set[int]:
        """Units that repeat an earlier unit word for word (headings excepted: a repeated
        'Notes' heading is structure, not repetition)."""
        # word units: a word repeats only as part of a repeated sentence (every "the" is
        # not a repeat), so each sentence is one key, held by its first word
        sentences: dict[int, list[int]] = {}
        for unit_index, first in self.sentence_of.items():
            if self.words or self.units[unit_index].piece:  # so are a long sentence's pieces
                sentences.setdefault(first, []).append(unit_index)
        grouped = {u for members in sentences.values() for u in members}
        seen: set[str] = set()
        duplicates = set()
        for index, unit in enumerate(self.units):
            if unit.kind in CONTEXT_KINDS or unit.kind == "line" \
                    or (unit.kind == "code" and self.comments) \
                    or (index in grouped and index not in sentences):
                continue  # (a file's settings and code repeat legitimately: `fi`, `port = 80`)
            members = sentences.get(index, [index])
            key = " ".join(w for u in members for w in self.units[u].text.split())
            if key in seen:
                duplicates.update(members)
            seen.add(key)
        return duplicates


def _unit_marks(body: list[str], joined: str, pieces: list[_Piece]) -> list[str]:
    """Per unit of a comment run (`body`, its text `joined`), the marks of the line its
    first word is on, written before it when it begins a line of a partly kept run."""
    cursor, marks = 0, []
    for piece in pieces:
        first = piece.text.split()[0]
        at = joined.find(first, cursor)
        at = cursor if at < 0 else at
        cursor = at + len(first)
        line = body[joined.count("\n", 0, at)]
        mark = line[:_mark_end(line)]
        marks.append(mark if mark[-1:].isspace() else mark + " ")
    return marks


@dataclass
class _Piece:
    """A unit's text as a paragraph or list item is cut: `before` is how many pieces of its
    sentence before it come with it; `piece`, `line_start`, `rest` and `glued` go to
    `Unit`."""

    text: str
    before: int
    piece: bool = False
    line_start: bool = False
    rest: bool = False
    glued: bool = False


def _outside_spans(sentence: str, cuts: list[int]) -> list[int]:
    """Cuts (word indexes, ascending) moved back to the start of a markdown span (`_SPAN`)
    they fall inside of, so a kept start never ends in a link's text or a `**` span; past
    the end of a span that opens the sentence (after marks only: a list item's `- **Enable`
    kept a stray `**`), so its first piece is the span whole, or nothing where the budget
    has no room for it. (Text with CJK is left as it is: its words are no runs of
    non-space.)"""
    if not _SPAN_MARKS.search(sentence) or has_cjk(sentence):
        return cuts
    starts = [m.start() for m in _NON_SPACE.finditer(sentence)]  # of each word
    spans = _Spans(sentence)
    moved = set()
    for cut in cuts:
        if cut >= len(starts):
            moved.add(cut)
            continue
        start, end = spans.around(starts[cut])
        back = bisect_left(starts, start)
        if back < cut and not any(ch.isalnum() for ch in sentence[:starts[back]]):
            back = bisect_left(starts, end)
            if back >= len(starts):  # the span runs to the sentence's end: no cut in it
                continue
        moved.add(back)
    return sorted(moved)


def _label(text: str) -> str:
    """A link label as CommonMark matches it: case and runs of white space do not count."""
    return " ".join(text.split()).casefold()


def _start_pieces(sentence: str, budget: int) -> list[_Piece]:
    """A sentence over the budget as chained pieces: its first `budget` words in
    `START_PIECES` pieces, then the rest; each piece's text keeps its line breaks."""
    words = [(k, word, glued) for k, line in enumerate(sentence.split("\n"))
             for word, glued in words_of(line)]
    size = -(-budget // START_PIECES)
    cuts = _outside_spans(sentence, [*range(size, budget, size), budget])
    spans = list(itertools.pairwise([0, *cuts, len(words)]))
    # a first piece of marks alone (`##` of a heading with nothing under it, a list's `-`)
    # would be a kept start that says nothing: it joins the next
    while len(spans) > 1 and not any(ch.isalnum() for _, word, _ in
                                     words[spans[0][0]:spans[0][1]] for ch in word):
        spans[:2] = [(spans[0][0], spans[1][1])]
    pieces = []
    for j, (a, b) in enumerate(spans):
        text = "".join(("" if i == a else "\n" if words[i][0] != words[i - 1][0]
                        else _spaced(words[i - 1][1], words[i][1], glued=words[i][2]))
                       + words[i][1] for i in range(a, b))
        line_start = words[a][0] != words[a - 1][0] if a else False
        pieces.append(_Piece(text, j, piece=True, line_start=line_start,
                             rest=j == len(spans) - 1,
                             glued=bool(a) and not line_start and words[a][2]))
    return pieces


def _item_sentences(body: list[str],
                    pieces: Callable[[list[str]], list[_Piece]], marker_end: int | None = None
                    ) -> tuple[str, list[_Piece]] | None:
    """A plain one-paragraph list item of several sentences (or clauses: `pieces` makes the
    units of its sentences) as (marker, pieces); None for an item of one piece or one holding
    a code block, a blank line or a literal block. `marker_end`: where the first line's
    marker ends (default: where `_ITEM`'s does)."""
    if marker_end is None:
        marker = _ITEM.match(body[0])
        if marker is None:
            return None
        marker_end = marker.end()
    if any(not line.strip() or _FENCE.match(line) for line in body) \
            or body[-1].endswith("::"):
        return None
    # a task list's box (`- [ ] `, `- [x] `) is the marker's: a kept sentence keeps it
    box = _TASK_BOX.match(body[0], marker_end)
    start = box.end() if box else marker_end
    head = body[0][:start]
    lines = [body[0][start:], *body[1:]]
    joined = "\n".join(lines)
    text = _squeezed(joined) if has_cjk(joined) else \
        " ".join(line.strip() for line in lines).strip()
    units = pieces(split_sentences(text))
    return (head if head.endswith((" ", "\t")) else head + " ", units) \
        if len(units) > 1 else None


def parse(text: str, split_over: int | None = None, clauses: bool = False,
          fine_clauses: bool = False, words: bool = False,
          layout: bool | None = None, tab_stop: int | None = LAYOUT_TAB_STOP,
          gutters: bool = LAYOUT_GUTTERS,
          oversized_start: bool = OVERSIZED_START, lead_ins: int = LEAD_INS,
          comment_runs: float | None = COMMENT_RUNS) -> Document:
    """Split a brief into blocks and units, applying the lossless clean-ups. A table with
    more than `split_over` words (the budget: it could never be kept whole) is split into
    rows. With `clauses` a sentence (of a paragraph or a plain list item) is split into
    clause units, each kept only with the clauses of its sentence before it; with
    `fine_clauses` too, also after every comma; with `words`, into single words. `layout`:
    read indentation as layout (default: `LAYOUT_BY_INDENT` and `laid_out(text)`), a tab
    reaching the next multiple of `tab_stop` columns; `gutters`: see `LAYOUT_GUTTERS`;
    `oversized_start`: see `OVERSIZED_START` (only with `split_over`); `lead_ins`: see
    `LEAD_INS`; `comment_runs`: see `COMMENT_RUNS`."""
    if layout is None:
        layout = LAYOUT_BY_INDENT and laid_out(text, tab_stop, gutters)
    # markdown's tabs (`MARKDOWN_TAB_STOP`) only where markdown structure says it is
    # markdown: tab-indented plain text keeps the reading it had. (Never a commented file,
    # read again below: it is no markdown either)
    code_tab_stop = MARKDOWN_TAB_STOP if not layout and "\t" in text \
        and _structured(text, gutters) else None
    doc = _Parser(text, split_over, clauses, fine_clauses=fine_clauses, words=words,
                  layout=layout, tab_stop=tab_stop, gutters=gutters,
                  oversized_start=oversized_start, lead_ins=lead_ins,
                  code_tab_stop=code_tab_stop).parse()
    if _commented(doc, comment_runs):
        return _Parser(text, split_over, clauses, atx_headings=False,
                       fine_clauses=fine_clauses, words=words, layout=layout,
                       tab_stop=tab_stop, gutters=gutters, oversized_start=oversized_start,
                       lead_ins=lead_ins, comments=True).parse()
    if doc.units and all(u.kind in CONTEXT_KINDS for u in doc.units) \
            and any(_ATX.match(line) for line in text.splitlines()):
        # nothing but '#' lines: a config file's or a script's comments, not a document of
        # empty sections (which would keep nothing, a heading being kept only with its text)
        return _Parser(text, split_over, clauses, atx_headings=False,
                       fine_clauses=fine_clauses, words=words,
                       oversized_start=oversized_start, lead_ins=lead_ins).parse()
    return doc


# -- rendering -------------------------------------------------------------------------------

def render(doc: Document, keep: set[int] | npt.NDArray[np.bool_],
           budget: int | None = None) -> str:
    """The text of the kept units (with their context), in the input's order. A paragraph kept
    whole keeps its lines; a partly kept one becomes its kept sentences on one line, but the
    kept start of a sentence over the budget keeps that sentence's line breaks, and what
    follows a start cut from its end begins a new line. With `budget`, runs of comment lines
    kept whole (`MARKS_ONCE` pays their mark once) are written as a partly kept run is, the
    largest saving first, while the text is over the budget."""
    kept = set(np.flatnonzero(keep).tolist()) if isinstance(keep, np.ndarray) else set(keep)
    kept = _with_context(doc, kept)
    chosen = [[u for u in block.units if u in kept] for block in doc.blocks]
    written = [_block_lines(doc, block, units) if units else []
               for block, units in zip(doc.blocks, chosen, strict=True)]
    for b, block in enumerate(doc.blocks):
        if written[b] and block.under is not None and block.under[0] in kept:
            written[b].append(block.under[1])
    if budget is not None and any(block.marks is not None for block in doc.blocks):
        over = sum(count_words(line) for lines in written for line in lines) - budget
        # whole runs, written as they were, on one line instead (as a partly kept run is),
        # the largest saving first, while over (looked at only then)
        one_line = {} if over <= 0 else {
            b: _block_lines(doc, block, units, one_line=True)
            for b, (block, units) in enumerate(zip(doc.blocks, chosen, strict=True))
            if block.marks is not None and len(units) == len(block.units)}
        savings = sorted(((sum(map(count_words, written[b])) - sum(map(count_words, lines)), b)
                          for b, lines in one_line.items()), reverse=True)
        for saving, b in savings:
            if over <= 0 or saving <= 0:
                break
            written[b] = one_line[b]
            over -= saving
    out: list[str] = []
    gap = False
    last = -1  # the block written last
    for b, (block, units) in enumerate(zip(doc.blocks, chosen, strict=True)):
        if not units:
            gap = gap or block.blank_before
            continue
        # (a rule is read as a blank line after it: written, the brief's own spacing)
        tight = last == b - 1 and doc.blocks[last].kind == "rule" \
            and not doc.blocks[last].blank_after
        # a definition right under its term, whichever of its paragraphs comes first
        # (after a blank line docutils reads the term as a paragraph over a quote); a
        # Markdown Extra `: definition` keeps the brief's spacing (a blank line is allowed)
        tight = tight or (last >= 0 and doc.blocks[last].kind == "term"
                          and not _COLON_DEFINITION.match(block.lines[0]))
        if out and (gap or block.blank_before) and not tight:
            out.append("")
        gap = False
        out.extend(written[b])
        last = b
    return doc.line_ending.join([*out, ""]) if out else ""


def _block_lines(doc: Document, block: Block, chosen: list[int],
                 one_line: bool = False) -> list[str]:
    """The lines of a block with these units kept (at least one, their context included);
    `one_line`: a paragraph kept whole is written as a partly kept one is."""
    out: list[str] = []
    if block.parts is not None and len(chosen) < len(block.units):
        for unit, part in zip(block.units, block.parts, strict=True):
            if unit in chosen:
                out.extend(part)
        out.extend(block.tail)
    elif block.head is not None and len(chosen) < len(block.units):
        item = [""]
        for u, after_cut in _after_cuts(doc, block, chosen):
            if doc.units[u].kind == "item":
                text = _squeezed(doc.units[u].text)
                if after_cut:
                    item.append(" " * len(block.head) + text)
                else:
                    item[-1] = _joined(item[-1], text, doc.units[u].glued)
        out.extend([block.head + item[0], *item[1:]])
    elif block.kind == "paragraph" and (one_line or len(chosen) < len(block.units)):
        indent = block.lines[0][:_indent(block.lines[0])]
        marks = block.marks or []
        marks_of = dict(zip(block.units[len(block.units) - len(marks):], marks, strict=True))
        written: list[tuple[str, str]] = []  # (what goes before it, a line)
        for u, after_cut in _after_cuts(doc, block, chosen):
            kept_unit = doc.units[u]  # a piece keeps its sentence's line breaks
            if kept_unit.kind == "commentmark":
                continue  # written before the run's first kept line (`marks_of`)
            lines = [_squeezed(line) for line in (
                kept_unit.text.split("\n") if kept_unit.piece else [kept_unit.text])]
            if written and not kept_unit.line_start and not after_cut:
                before, line = written[-1]
                written[-1] = (before, _joined(line, lines.pop(0), kept_unit.glued))
            written.extend((marks_of.get(u, indent), line) for line in lines)
        out.extend(before + line for before, line in written)
    else:
        out.extend(block.lines)
    return out


def _after_cuts(doc: Document, block: Block, chosen: list[int]) -> Iterator[tuple[int, bool]]:
    """Each chosen unit of a partly kept block, and whether the unit kept before it is a
    sentence's start whose next piece is dropped: what follows a cut goes on a new line, so
    two sentences' starts never read as one phrase ("Beta Alpha")."""
    position = {u: k for k, u in enumerate(block.units)}
    before: int | None = None
    for u in chosen:
        cut = before is not None and doc.units[before].piece and not doc.units[before].rest \
            and block.units[position[before] + 1] != u
        yield u, cut
        before = u


def _with_context(doc: Document, kept: set[int]) -> set[int]:
    full = set(kept)
    for u in kept:
        full.update(doc.units[u].context)
    return full
