"""Duplicate briefs, in four kinds from the strongest:

- `exact`: the same bytes;
- `normalized`: the same text laid out otherwise (line endings, white space, a prose
  paragraph re-wrapped: `normalize_text`);
- `near-identical`: the same text with small edits: word-shingle Jaccard ≥ a threshold, from the
  stored text alone (`shingles`, no model);
- `similar`: the same meaning: cosine of the brief vectors ≥ a threshold (`nearpairs`), and
  for two briefs of several chunks, chunks that match too (`chunkmatch`); it was
  called `near` before, and the JSON still says so in `deprecated_kind` for one release.

A group is a representative (its oldest member) and members each at least the kind's threshold
from it (`grouping`): "each of these is a near copy of the first". This module orchestrates:
it reads the archive, finds the pairs, groups them and prunes. Only `find_duplicates` with new
paths loads a model."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from .chunkmatch import confirmed, long_rows, reader
from .errors import VERIFY_ADVICE, IntegrityError, UsageError, printable
from .grouping import assign
from .heap import release_freed
from .nearpairs import Pairs, all_pairs, decoded, near_pairs, query_pairs
from .quantize import Codes, Floats, Int8Codes
from .shingles import Shingles, lexical_pairs, shingle

if TYPE_CHECKING:
    from .sources import Source
    from .store import Archive, BriefRecord, Snapshot, StoredVectors
    from .text import Skipped

Ints = npt.NDArray[np.int64]

# Chosen from data (README, "How the default thresholds were chosen"): with the bundled model
# the fixture near-copy scores 0.99, the paraphrase 0.93 and two versions of one brief 0.89,
# while unrelated briefs stay below 0.6; see bench/bench_dedupe.py for real-data figures.
DEFAULT_THRESHOLD = 0.85
# Chosen on the training half of the labelled set (bench/labelled.py, `choose`; README): the
# highest Jaccard (steps of 0.05) that keeps 98% of the planted near-identical copies, with the
# shingle length (3, 4 or 5 words) that then lets the fewest planted paraphrases in.
DEFAULT_JACCARD = 0.65
# ... and a near copy is a *small* edit: the side that changed less holds at most this many
# shingles of its own (each changed word is in 3 shingles). Two sibling tools' manual pages,
# or two versions of a licence, share 0.7-0.86 of their shingles but differ at many places on
# both sides (28-592 in the trust audit, bench/RESULTS.md; not all: pages that differ only in
# the tool's name, sha256sum/sha512sum's with 22, stay near-identical, README); the planted
# copies of the labelled set's training half hold at most 12, the fixtures' revised brief (a
# typo fixed, two values changed, a sentence reworded) 20 (README, "near-identical").
MAX_EDIT_SHINGLES = 24
# ... and the whole edit is small: the two hold at most this many shingles of their own between
# them. One edit of the labelled set's training copies (a sentence added or dropped, words
# changed) makes up to 53, the fixtures' revised brief (four edits) 52; 64 leaves room for a
# somewhat longer sentence. Two projects' copyright files of one licence (other names, holders
# and years: 23 + 60), or a file that holds another's text and a whole licence more (5 + 113),
# are not copies: a prune would lose that text (trust audit, second round: bench/RESULTS.md).
MAX_EDIT_TOTAL = 64
# ... and the shingles the two share are not only boilerplate: a shingle that this many briefs
# or more hold (a licence header, a template's fixed text) is no evidence that one is a copy of
# the other (trust audit, third round: 45 of 113 gcloud modules sharing Apache's header were in
# the default prune's list). README, "near-identical", says how it was chosen.
BOILERPLATE_BRIEFS = 8
# ... the Jaccard the two must still have without the boilerplate: the highest (steps of 0.05)
# that keeps every planted copy of the labelled set's training half (their least is 0.643;
# the held-out half's 0.628), while 99% of the pairs that share only boilerplate have 0.
BOILERPLATE_JACCARD = 0.6
KINDS = ("exact", "normalized", "near-identical", "similar")
KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
ALIASES = {"near": "similar"}  # the semantic kind's name before; accepted for one release
# what --prune removes by default: copies that lose no word. A near-identical pair is the same
# text with small edits, and so are two siblings of one template: a Debian library's `-dev`
# and runtime descriptions differ in one sentence, `libaccounts-glib-dev` and
# `libaccounts-qt5-dev` in one word (GLib-based / Qt5), and an audit's 600 descriptions put
# 141 such distinct briefs in the prune's list (session 26). No measure of the text tells
# such a sibling from an edited copy, so removing near-identical members is asked for by name
PRUNE_KINDS = ("exact", "normalized")


@dataclass(frozen=True)
class Thresholds:
    similar: float = DEFAULT_THRESHOLD  # cosine
    near_identical: float = DEFAULT_JACCARD  # shingle Jaccard


def check_threshold(threshold: float) -> float:
    if not 0.0 < threshold <= 1.0 or math.isnan(threshold):
        raise UsageError(f"--threshold must be in (0, 1], not {threshold}; "
                         f"the default is {DEFAULT_THRESHOLD}")
    return threshold


def check_jaccard(jaccard: float) -> float:
    if not 0.0 < jaccard <= 1.0 or math.isnan(jaccard):
        raise UsageError(f"--jaccard must be in (0, 1], not {jaccard}; "
                         f"the default is {DEFAULT_JACCARD}")
    return jaccard


def parse_kinds(text: str, option: str) -> tuple[str, ...]:
    """Comma-separated kinds (`all` for every kind; `near` reads as `similar`)."""
    kinds: list[str] = []
    for word in text.split(","):
        word = ALIASES.get(word.strip().lower(), word.strip().lower())
        if word == "all":
            kinds.extend(KINDS)
        elif word in KINDS:
            kinds.append(word)
        else:
            raise UsageError(f"{option}: unknown kind {word!r}; choose from "
                             f"{', '.join(KINDS)} or all")
    return tuple(k for k in KINDS if k in kinds)


# -- text -----------------------------------------------------------------------------------

def normalize_text(text: str) -> str:
    """What a `normalized` duplicate ignores: the layout of its text and nothing else. Line
    endings, a byte-order mark, trailing white space and blank lines (but in a fenced code
    block), the Unicode form (NFC), and a prose paragraph's line breaks and runs of white
    space (`_layout_free`). Case, indentation, tabs, every other line break and a run of
    spaces elsewhere count: `US` is not `us`, code indented otherwise is other code, a tab
    separates a table's fields, a setting on its own line is not the same setting inside the
    comment above it, and `alice  10` in a table laid out with spaces is not
    `alice        10`; a copy that differs in them is `near-identical` (reported, not pruned
    by default)."""
    return _layout_free(unicodedata.normalize("NFC", text.replace("\ufeff", "")))


def text_key(text: str) -> bytes:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).digest()


def stored_text_key(data: bytes) -> bytes:
    """text_key of a brief's stored bytes as the encoder reads them (`decode_text`, which
    ASCII bytes need not go through). The key's step per line now costs more than decoding,
    so there is no path for bytes of its own (20,000 Debian descriptions: 0.22 s decoded,
    0.23 s with one, best of 5)."""
    if data.isascii():
        return text_key(data.decode("ascii"))
    from .text import decode_text

    return text_key(decode_text(data)[0])


# A re-wrap fills a paragraph of prose: its line breaks are layout, every other one is not
# (an audit's cases: a setting joined onto the comment line above it, a table's fields cut
# elsewhere, two commands on one line were all `normalized`, so the default prune removed the
# config whose setting was on). README, "normalized", states the rule.
# a line starting so is a comment, a heading, a quote, a table's row, a directive or a
# decorator, a code fence: never part of a paragraph
_MARKS = ("#", "//", "--", ";", "%", ">", "|", ".", ":", "@", "```", "~~~")
# a list item (`-`, `*`, `1.`, `2.1.`, `a)`, `(iv)`): may begin a paragraph, never continue
# one. Not `A.`: a line of prose may begin with an initial
_LIST_MARK = re.compile(r"(?:[-*+\u2022]|\d+(?:\.\d+)*[.)]|\(?[^\W_]{1,3}\))(?:\s|$)")
_WORD = re.compile(r"[^\W_]")  # a letter or a digit: a line without one is a rule or a brace
# the end of a sentence, which a paragraph of prose has and a block of code or settings
# (`rm -rf /tmp`, `key = value`, `To: counsel`) has not. A quote after the full stop does not
# count, so a script's `echo "Done."` or a call's `log("Done.")` ends none
_FULL_STOPS = (".", "!", "?", ":", "\u2026", "\u3002", "\uff01", "\uff1f", "\uff1a")
# a code block's fence: three or more backticks or tildes, indented any way (CommonMark
# allows under 4 columns, but a list item's fence is indented by its content, 4 spaces or a
# tab; a fence read inside indented code only makes its lines count as written, as they do)
_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
# a tab or an ASCII field separator inside a line: a table's row, whose fields they part
_FIELDS = re.compile("[\t\x1c-\x1f]")
# white space a line may end in: any but the field separators (an empty last field)
_TRAILING = "".join(c for c in map(chr, range(0x3001))
                    if c.isspace() and not _FIELDS.match(c))
_GAP = re.compile(r"  +")
_RUN = re.compile(r"[^\S\t\x1c-\x1f]+")  # white space but a tab or a field separator
# the narrowest fill whose line breaks are layout: a paragraph whose widest line is shorter
# is rather a list of names, an address, a verse or commands, whose breaks are their
# meaning; and how far short of the widest line a line may break though the next word would
# have fitted (a hand's fill is not greedy). bench/RESULTS.md, "dedupe: a re-wrap fills its
# lines", measured them
FILL_WIDTH = 40
FILL_SLACK = 0.8


def _width(text: str) -> int:
    """Columns a text takes: a wide (CJK) letter two, any other character one."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _filled(lines: list[str]) -> bool:
    """Whether a paragraph's lines (as written, trailing white space dropped) read as prose
    filled to a width, as a re-wrap leaves them: each line but the last ends a sentence (a
    writer's break, at any width) or is broken where the next line's first word would not
    have fitted within FILL_SLACK of the widest line, at least FILL_WIDTH wide; and no
    column of a table (`_aligned`)."""
    widths = [_width(line) for line in lines]
    width = max(widths)
    for line, line_width, after in zip(lines, widths, lines[1:], strict=False):
        if _ends_sentence([line]):
            continue
        word = after.split(None, 1)[0]
        # a CJK fill may break between any two letters: the next word is then one letter
        fits = 2 if _width(word[0]) == 2 else len(word)
        if width < FILL_WIDTH or line_width + 1 + fits <= FILL_SLACK * width:
            return False
    return not _aligned(lines)


def _aligned(lines: list[str]) -> bool:
    """Whether a gap of two or more spaces inside two lines at least lies at a column where
    every line is blank or over: a column of a table laid out with spaces (whose last row
    may end a sentence), which a fill does not make."""
    if sum(1 for line in lines if "  " in line.lstrip()) < 2:  # (most paragraphs)
        return False
    gaps = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        gaps.append({k for m in _GAP.finditer(line, indent) for k in range(*m.span())})
    shared = Counter(k for columns in gaps for k in columns)
    return any(n >= 2 and all(k in columns or k >= len(line)
                              for columns, line in zip(gaps, lines, strict=True))
               for k, n in shared.items())


def _spaced(line: str) -> str:
    """A line that is no prose as written, but each lone white space a space and the runs
    beside a `|` one: elsewhere a run of spaces may be what parts a table's columns
    (`alice  10` is not `alice        10`) or code's text (`split("  ")`)."""
    if line.isascii() and "  " not in line.lstrip():
        return line
    indent = len(line) - len(line.lstrip())
    return line[:indent] + _RUN.sub(_one_space, line[indent:])


def _one_space(run: re.Match[str]) -> str:
    text, start, end = run.string, run.start(), run.end()
    if end - start == 1 or text[start - 1] == "|" or text[end:end + 1] == "|":
        return " "
    return run.group()


# what a prose paragraph's text keeps as written: a code span (`split("  ")`) and a quotation
# ("open  sesame"), whose runs of spaces are their text, not layout
_VERBATIM = re.compile(r'(`+)[^`]+?\1|"[^"\n]*"|\u201c[^\u201d\n]*\u201d')
_SPACES = re.compile(r"\s+")


def _joined(lines: list[str]) -> str:
    """A prose paragraph's lines as one line: each line break and the white space around it
    one space, and every run of white space one space but inside a code span or a quotation
    (`_VERBATIM`), which a re-wrap leaves as they were (but where it breaks a line)."""
    text = " ".join(line.strip() for line in lines)
    out, at = [], 0
    for span in _VERBATIM.finditer(text):
        out += [_SPACES.sub(" ", text[at:span.start()]), span.group()]
        at = span.end()
    out.append(_SPACES.sub(" ", text[at:]))
    return "".join(out)


def _ends_sentence(paragraph: list[str]) -> bool:
    """Whether a paragraph's last line ends a sentence: with a full stop that ends a word
    (`git add .` ends none), a full stop and a closing parenthesis (`(see 3.1.)`), or a
    sentence and a remark in parentheses after it (`... to make sbc. (for Standard BC)`,
    which may span lines)."""
    last = paragraph[-1]
    if last.endswith(_FULL_STOPS):
        return len(last) > 1 and not last[-2].isspace()
    if not last.endswith(")"):
        return False
    if last[-2:-1] in _FULL_STOPS:
        return True
    text = " ".join(paragraph)
    start = text.rfind("(")
    return start > 1 and text[start - 2] in ".!?" and text[start - 1] == " " \
        and ")" not in text[start:-1]


def _layout_free(text: str) -> str:
    """The text's lines (line endings as \\n), blank lines and trailing white space dropped but
    in a fenced code block (where both count, but for an unclosed block's blank lines at the end
    of the text), each as written but for prose paragraphs, each one line of its words one space
    apart. A paragraph is the lines between blank lines, or lines that are not prose (a code
    block's, a table's, a mark of `_MARKS`, no letter or digit), of which only the first may be
    indented or a list item. It is prose when its last line ends a sentence (`_ends_sentence`)
    and its lines are filled (`_filled`); a plain prose paragraph (its first line neither
    indented nor a list item) after another continues its line. A re-wrap changes none of this,
    so a paragraph filled at another width is the same line."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    paragraph: list[str] = []  # the open paragraph's lines as written
    plain = False  # the open paragraph's first line is neither indented nor a list item
    joins = False  # out[-1] is a plain prose paragraph, which a plain one continues
    fence = ""  # the open code block's fence, if any: its lines are code as written

    def close() -> None:
        nonlocal joins
        lines = [line.rstrip(_TRAILING) for line in paragraph]
        if _ends_sentence(lines) and (len(lines) == 1 or _filled(lines)):
            first = lines[0]
            line = first[:len(first) - len(first.lstrip())] + _joined(lines)
            if joins and plain:
                out[-1] += " " + line
            else:
                out.append(line)
            joins = plain
        else:
            out.extend(map(_spaced, paragraph))
            joins = False
        paragraph.clear()

    for line in text.split("\n"):
        words = line.split()
        if not words:
            if fence:  # a code block's blank line counts: a heredoc's header or its body
                out.append("")
                joins = False
            elif paragraph:
                close()
            continue
        # trailing white space is layout only in prose, which the paragraph's close drops:
        # elsewhere it may be the text's (`\ ` at a shell line's end is no continuation,
        # `OUT = build ` in a Makefile is a value with its space, two spaces end a
        # Markdown line): the default prune removed such a script (an audit's finding)
        raw, line = line, line if fence else line.rstrip(_TRAILING)
        indent = line[:len(line) - len(line.lstrip())] if line[0].isspace() else ""
        first = words[0][0]
        prose = listed = opened = False
        if fence:  # a code block's line, or its closing fence: as long or longer, alone
            closing = _FENCE.match(line) if first == fence[0] else None
            if closing and closing.group(1).startswith(fence) \
                    and not line[closing.end():].strip():
                fence = ""
                line = raw = line.rstrip(_TRAILING)
        elif first in "`~" and (opening := _FENCE.match(line)) is not None:
            fence, opened = opening.group(1), True
        elif _FIELDS.search(line, len(indent)) is None:
            body = " ".join(words)
            # (the checks in the order that spares most of them: a mark is no letter, and a
            # list mark needs one of these near the start)
            prose = first.isalnum() or (
                not body.startswith(_MARKS) and _WORD.search(body) is not None)
            listed = prose and (first in "-*+\u2022(" or first.isdigit() or ")" in body[:5]) \
                and _LIST_MARK.match(body) is not None
        if prose and paragraph and not indent and not listed:
            paragraph.append(raw)
            continue
        if paragraph:
            close()
        if prose:
            paragraph.append(raw)
            plain = not indent and not listed
        else:
            out.append(line if fence or opened else _spaced(raw))
            joins = False
    if paragraph:
        close()
    while out and not out[-1]:  # an unclosed code block's blank lines at the end
        out.pop()
    return "\n".join(out)


def small_edit(own_a: Ints, own_b: Ints) -> npt.NDArray[np.bool_]:
    """Whether pairs whose briefs hold these many shingles of their own (`Shingles.own`) are
    one brief and a small edit of it (with the Jaccard threshold: `near-identical`)."""
    out: npt.NDArray[np.bool_] = ((np.minimum(own_a, own_b) <= MAX_EDIT_SHINGLES)
                                  & (own_a + own_b <= MAX_EDIT_TOTAL))
    return out


def near_copies(shingles: Shingles, i: Ints, j: Ints, threshold: float,
                given_from: int | None = None) -> npt.NDArray[np.bool_]:
    """Whether pairs at the Jaccard threshold are one brief and a small edit of it: the edit
    is small (`small_edit`), and their shingles that are not boilerplate (held by
    BOILERPLATE_BRIEFS briefs or more) still have a Jaccard of BOILERPLATE_JACCARD (or the
    threshold, if lower). Two modules that share only a licence header share boilerplate
    (their Jaccard without it is 0), while a brief and its copy share shingles that the two of
    them hold (or a few more copies): their Jaccard drops only by a common phrase or two. A
    pair that is all boilerplate is no near copy (identical texts are `exact` or
    `normalized`).

    With `given_from` (the shingles' rows from it on are briefs given to check, not archived
    ones), a shingle's holders are the archived briefs and those of the pair's own given ones
    that hold it: nine copies of an archived brief given at once, each with a word changed,
    made its every shingle boilerplate, and a copies-only CI gate passed them all (an audit's
    finding)."""
    keep = small_edit(*shingles.own(i, j))
    if not keep.any():
        return keep
    rows = np.unique(np.r_[i[keep], j[keep]])
    mine = shingles.held_by(rows, 1)
    among = len(shingles.offsets) - 1 if given_from is None else given_from
    frequency = shingles.frequencies(mine, among)
    given = (np.zeros(len(i), np.int64) if given_from is None
             else (i >= given_from).astype(np.int64) + (j >= given_from))
    least = np.float32(min(threshold, BOILERPLATE_JACCARD))
    for own in np.unique(given[keep]).tolist():
        common = mine[frequency + own >= BOILERPLATE_BRIEFS]
        if not len(common):
            continue
        these = keep & (given == own)
        a, b = np.searchsorted(rows, i[these]), np.searchsorted(rows, j[these])
        rest = shingles.without(rows, common)
        shared = rest.commons(a, b)
        sizes = np.diff(rest.offsets)
        union = sizes[a] + sizes[b] - shared
        if own:
            # `common` counts all `own` given briefs as holders, right for a shingle both
            # hold; one held by one of the two has only the given ones that hold it, so
            # those `own` short of boilerplate that the other holds come back to the union
            band = shingles.without(rows, mine[frequency != BOILERPLATE_BRIEFS - own])
            held = np.diff(band.offsets)
            both = band.commons(a, b)
            if own == 1:  # back: the archived one's, which the given one does not hold
                union += held[np.where(i[these] >= among, b, a)] - both
            else:  # back: what either holds alone
                union += held[a] + held[b] - 2 * both
        ratio = np.where(union > 0, shared / np.maximum(union, 1), 0.0)
        keep[these] = ratio.astype(np.float32) >= least
    return keep


def histogram(similarities: Floats, lo: float = 0.5, width: float = 0.025
              ) -> list[tuple[float, int]]:
    """(bin start, count) over [lo, 1]; everything below lo falls in the first bin."""
    edges = np.arange(lo, 1.0 + width / 2, width)
    clipped = np.clip(np.asarray(similarities, np.float64), lo, 1.0)
    counts, _ = np.histogram(clipped, bins=np.r_[edges[:-1], 1.0 + 1e-9])
    return [(round(float(e), 4), int(c)) for e, c in zip(edges[:-1], counts, strict=True)]


# -- groups ---------------------------------------------------------------------------------

@dataclass
class Member:
    path: str
    similarity: float  # cosine to the group's first member
    jaccard: float  # shingle Jaccard to the group's first member
    new: bool = False  # given on the command line, not (yet) archived
    # in a near-identical group, the words it changed against the group's first
    # (briefmin.wordiff; None: not compared, or too long to)
    changes: Sequence[str] | None = None


@dataclass
class Group:
    kind: str  # one of KINDS
    members: list[Member]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "paths": [m.path for m in self.members],
            "similarities": [round(m.similarity, 4) for m in self.members],
            "jaccards": [round(m.jaccard, 4) for m in self.members],
            "new": [m.new for m in self.members]}
        if self.kind == "near-identical":
            out["changes"] = [m.changes for m in self.members]
        if self.kind == "similar":
            out["deprecated_kind"] = "near"  # its name before, kept for one release
        return out


@dataclass(frozen=True)
class Removal:
    """A member a prune would remove, the representative that stays, and how close they are."""

    path: str
    kind: str
    keeps: str
    similarity: float
    jaccard: float
    # a near-identical member's changed words against the brief that stays: what the
    # removal loses (None for the other kinds, whose words all stay)
    changes: Sequence[str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path, "kind": self.kind, "keeps": self.keeps,
            "similarity": round(self.similarity, 4), "jaccard": round(self.jaccard, 4)}
        if self.kind == "near-identical":
            out["changes"] = self.changes
        return out


def _to_survivor(removal: Removal, going: dict[str, Removal]) -> Removal:
    """A removal whose representative goes too (a copy of an `exact` group's first, which
    is itself a `normalized` copy of an older brief) names the brief that stays at the end
    of the chain, with the chain's weakest kind and closeness: "which stays" holds. Only
    exact and normalized firsts go, and each chain leads to an older brief."""
    out, seen = removal, {removal.path}
    while out.keeps in going and out.keeps not in seen:
        step = going[out.keeps]
        seen.add(step.path)
        # exact and normalized steps change no word: the words changed on the way are the
        # near-identical step's, its last (a near-identical first stays)
        out = Removal(removal.path, max(out.kind, step.kind, key=KIND_RANK.__getitem__),
                      step.keeps, min(out.similarity, step.similarity),
                      min(out.jaccard, step.jaccard),
                      step.changes if step.kind == "near-identical" else out.changes)
    return out


@dataclass
class DedupeReport:
    groups: list[Group]
    thresholds: Thresholds
    briefs: int  # briefs compared (archived latest versions plus new ones)
    new: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    histogram: list[tuple[float, int]] | None = None
    histogram_of: str = ""  # what the histogram counts
    notes: list[str] = field(default_factory=list)  # what the user should know: a search
    # that could not be complete

    @property
    def threshold(self) -> float:
        return self.thresholds.similar

    def removals(self, kinds: Sequence[str] = PRUNE_KINDS,
                 keep: Set[str] = frozenset()) -> list[Removal]:
        """Archived briefs a prune of these kinds removes: every member but the first of
        each group of those kinds, each with its closeness to the first, which stays. The
        first of a `near-identical` or `similar` group whose members go stays even when it
        is a member elsewhere (a `similar` member that leads a `near-identical` group):
        removing it too would keep nothing of its near copies' text. (The first of an
        `exact` or `normalized` group may go: its members' text is its own; a removal
        then names the brief at the end of the chain.) `keep`: paths that stay whatever
        their groups (`plan_prune`'s held ones)."""
        chosen = [(g, m) for g in self.groups if g.kind in kinds
                  for m in g.members[1:] if not m.new]
        kept = {g.members[0].path for g, _ in chosen
                if g.kind in ("near-identical", "similar")} | set(keep)
        going: dict[str, Removal] = {}
        for g, m in chosen:  # groups come strongest kind first: a path's own strongest
            if m.path not in kept:
                going.setdefault(m.path, Removal(m.path, g.kind, g.members[0].path,
                                                 m.similarity, m.jaccard, m.changes))
        return [_to_survivor(r, going) for r in going.values()]

    @property
    def redundant(self) -> list[str]:
        """Archived paths the default prune removes (exact and normalized copies)."""
        return [r.path for r in self.removals()]

    def findings(self, kinds: Sequence[str] = KINDS) -> list[Group]:
        return [g for g in self.groups if g.kind in kinds]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "threshold": self.thresholds.similar,
            "thresholds": {"similar": self.thresholds.similar,
                           "near-identical": self.thresholds.near_identical},
            "briefs": self.briefs,
            "groups": [g.to_json() for g in self.groups],
            "new": self.new,
            "skipped": [{"path": s.name, "reason": s.reason} for s in self.skipped],
            "notes": self.notes}
        if self.histogram is not None:
            starts = [lo for lo, _ in self.histogram]
            # the first bin is open below (it holds every brief under its end, as the
            # table's `< 0.525` says), so its `from` is null; the last one ends at 1 inclusive
            out["histogram"] = {"of": self.histogram_of, "bins": [
                {"from": lo if k else None, "to": starts[k + 1] if k + 1 < len(starts) else 1.0,
                 "count": c} for k, (lo, c) in enumerate(self.histogram)]}
        return out


@dataclass(slots=True)  # a million of them: no __dict__ each (about 100 MB)
class _Unit:
    """One distinct content (sha256) and the paths that hold it, oldest first."""

    paths: list[tuple[tuple[int, str, str], str, bool]]  # (age key, path, new)
    row: int  # its row in the vector table (archived rows first, then new ones)
    content_id: int  # the stored content it is, or -1 for a new brief's text (`given`)
    given: str | None = None


def find_duplicates(archive: Archive, sources: Iterable[Source | Skipped] | None = None, *,
                    threshold: float = DEFAULT_THRESHOLD,
                    jaccard: float = DEFAULT_JACCARD, histogram_of_nearest: bool = False,
                    progress: Callable[[str], None] | None = None,
                    snapshot: Snapshot | None = None, concurrent: bool = True
                    ) -> DedupeReport:
    """Duplicate groups among the archive's briefs (latest versions), or, given `sources`,
    groups that involve them: the new briefs against the archive and each other, without
    adding them. A new brief named like an archived one is its next version, not its
    duplicate: the archived one is left out of the comparison. With `snapshot`, the archived
    briefs are the versions that snapshot holds. `concurrent` (the default) searches the
    archive's similar pairs in a thread while the texts are read; off, one after the other
    (the same report)."""
    thresholds = Thresholds(check_threshold(threshold), check_jaccard(jaccard))
    # one state throughout: the codes' places, the codes (read in a thread) and the texts
    # come from separate reads, and an rm committing between them shifted codes onto other
    # briefs; a writer's commit waits for the dedupe (not in WAL mode, see Archive.reading)
    with archive.reading():
        return _find_duplicates(archive, sources, thresholds, histogram_of_nearest,
                                progress, snapshot, concurrent)


def _find_duplicates(archive: Archive, sources: Iterable[Source | Skipped] | None,
                     thresholds: Thresholds, histogram_of_nearest: bool,
                     progress: Callable[[str], None] | None, snapshot: Snapshot | None,
                     concurrent: bool) -> DedupeReport:
    from .store import BRIEF_KINDS, KIND_BRIEF
    from .text import Admitted, admit, decode_text

    say = progress or (lambda _: None)
    say("reading stored codes")
    stored = archive.vectors(kinds=BRIEF_KINDS)
    if lost := stored.missing:  # left out, their copies would go unreported
        raise IntegrityError(f"{archive.path}: {lost} stored brief(s) have no vectors "
                             "(damage), so dedupe cannot vouch for them; run `briefmin "
                             f"verify {archive.path}`, then `briefmin rm` the briefs it "
                             "names and add them again")
    # the codes are read and measured in a thread while this one reads the catalogue (at a
    # million briefs both are seconds of one core); the thread then waits for the rows
    side = _VectorSide(archive, stored, thresholds.similar, concurrent)
    with side.handing():
        by_content = archive.paths_by_content(snapshot=snapshot)
        new_sources: list[Admitted] = []
        skipped: list[Skipped] = []
        for source in sources or ():
            item = admit(source)
            if isinstance(item, Admitted):
                new_sources.append(item)
            elif item is not None:
                skipped.append(item)
        path_mode = sources is not None
        replaced = {item.name for item in new_sources}

        row_of = {int(c): r for r, c in enumerate(stored.content_ids.tolist())}
        units: dict[bytes, _Unit] = {}
        for content_id, records in sorted(by_content.items()):  # stored order: blocks read once
            kept = [r for r in records if r.path not in replaced]
            if not kept or content_id not in row_of:
                continue
            units[bytes.fromhex(kept[0].sha256)] = _Unit(
                [(_age(r), r.path, False) for r in kept], row_of[content_id], content_id)
        # a million catalogue records and a dict of a million ints: only the units are needed
        del by_content, row_of
        archived_rows = np.array(sorted(u.row for u in units.values()), dtype=np.int64)

        new_texts: list[str] = []
        copies = 0  # new briefs with the bytes of another brief (their nearest is at 1.0)
        for order, item in enumerate(new_sources):
            name, data, digest = item.name, item.data, item.digest
            age = (1, f"{order:012d}", name)  # new briefs are younger than every archived one
            if digest in units:
                units[digest].paths.append((age, name, True))
                copies += 1
                continue
            text = decode_text(data)[0]
            units[digest] = _Unit([(age, name, True)], len(stored) + len(new_texts), -1, text)
            new_texts.append(text)
        if not path_mode and len(archived_rows):
            say("finding similar pairs, beside the texts" if concurrent else
                "finding similar pairs")
        side.hand(archived_rows, needed=bool(len(archived_rows) or new_texts),
                  search=not path_mode)
    with side.handing():  # a damaged text or a model that fails must not leave it reading
        say("reading texts")
        lexical = _Lexical.read(units, thresholds.near_identical,
                                first_new=len(stored) if path_mode else None,
                                read=_naming_reader(archive, units))
        new_vectors = np.zeros((0, stored.dim or 1), np.float32)
        new_chunks: list[Floats] = []  # the new briefs' chunk vectors (chunkmatch)
        if new_texts:
            from .encoder import archive_encoder, encode_briefs

            say(f"encoding {len(new_texts)} new brief(s)")
            encoded = encode_briefs(archive_encoder(archive), new_texts)
            new_vectors = np.vstack([e.brief_vector for e in encoded]).astype(np.float32)
            new_chunks = [e.chunk_vectors for e in encoded]

        found = side.result()
    codes, norms = found.codes, found.norms
    archived_codes, archived_norms = found.archived_codes, found.archived_norms
    best: Floats = np.zeros(0, np.float32)
    if path_mode:
        pairs, best = _new_pairs(new_vectors, codes, norms, archived_rows, len(stored),
                                 thresholds.similar)
    else:
        pairs = found.pairs
    notes = side.notes
    # the thread's result (~1.3e7 pairs at a million) is held once, by `pairs`
    del found, side
    # two briefs of several chunks each are similar only if their chunks match too
    pairs = confirmed(pairs, long_rows(stored.kinds == KIND_BRIEF, new_chunks),
                      reader(stored.content_ids, archive.chunk_vectors, new_chunks),
                      thresholds.similar)

    evidence = _Evidence(stored, codes, norms, new_vectors, lexical)

    say("grouping")
    report = DedupeReport(_group(units, lexical, pairs, thresholds, evidence), thresholds,
                          briefs=sum(len(u.paths) for u in units.values()),
                          new=[item.name for item in new_sources], skipped=skipped,
                          notes=notes)
    if path_mode:
        report.groups = _given_groups(report.groups, units, lexical, pairs, thresholds,
                                      evidence)
    evidence.fill()
    _word_changes(report.groups, units, archive)
    if histogram_of_nearest:
        if path_mode:
            report.histogram = histogram(np.r_[best, np.ones(copies, np.float32)])
            report.histogram_of = "each new brief's most similar brief"
        elif archived_codes is not None and archived_norms is not None:
            report.histogram = histogram(_sampled_nearest(archived_codes, archived_norms))
            n = len(archived_rows)
            report.histogram_of = (f"each brief's most similar other brief ({n} briefs)"
                                   if n <= NEAREST_SAMPLE else
                                   "the most similar other brief of each of "
                                   f"{NEAREST_SAMPLE} sampled briefs (of {n})")
    return report


# stored text `_word_changes` holds at once (each batch is one scan of the catalogue)
CHANGES_BATCH_BYTES = 64 * 1024 * 1024


def _word_changes(groups: list[Group], units: dict[bytes, _Unit], archive: Archive) -> None:
    """Each near-identical member's changed words against its group's first (the first's
    own are []): what makes a copy not a copy is often one setting or number."""
    from .wordiff import changes

    near = [g for g in groups if g.kind == "near-identical"]
    wanted = {m.path for g in near for m in g.members}
    if not wanted:
        return
    unit_of = {path: u for u in units.values() for _, path, _ in u.paths if path in wanted}
    ids, sizes = archive.content_sizes()

    def stored(batch: list[Group]) -> list[int]:
        return sorted({unit_of[m.path].content_id for g in batch for m in g.members
                       if unit_of[m.path].given is None})

    def compare(batch: list[Group]) -> None:
        # the texts were read whole once already (a damaged one would have ended the run)
        text_of = dict(archive.texts(stored(batch)))

        def text(path: str) -> str:
            unit = unit_of[path]
            return unit.given if unit.given is not None else text_of[unit.content_id]

        for group in batch:
            first = text(group.members[0].path)
            group.members[0].changes = []
            for member in group.members[1:]:
                member.changes = changes(first, text(member.path))

    # a batch of groups at a time, up to CHANGES_BATCH_BYTES of stored text in memory
    batch: list[Group] = []
    held = 0
    for group in near:
        size = int(sizes[np.searchsorted(ids, stored([group]))].sum())
        if batch and held + size > CHANGES_BATCH_BYTES:
            compare(batch)
            batch, held = [], 0
        batch.append(group)
        held += size
    compare(batch)


def _naming_reader(archive: Archive, units: dict[bytes, _Unit]
                   ) -> Callable[[Iterable[int]], Iterator[tuple[int, bytes]]]:
    """`archive.contents`, but a damaged stored text ends the reading, once every other text
    was read, with an error that names its brief (and how many more are damaged) and says
    what to run: "stored item does not match its sha256" alone named neither."""
    def read(content_ids: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        damaged: list[tuple[int, IntegrityError]] = []
        yield from archive.contents(content_ids, on_damage=lambda c, e: damaged.append((c, e)))
        if not damaged:
            return
        hurt = {c for c, _ in damaged}
        holders = {u.content_id: u for u in units.values() if u.content_id in hurt}
        first = min(holders[damaged[0][0]].paths)[1]  # its oldest brief
        others = sum(len(u.paths) for u in holders.values()) - 1
        why = str(damaged[0][1]).removesuffix(VERIFY_ADVICE)
        raise IntegrityError(
            f"cannot read {printable(first)}"
            + (f" (and {others} other brief(s))" if others else "")
            + f": {why}, so dedupe cannot check {'them' if others else 'it'}; run `briefmin "
            f"verify {archive.path}`, then `briefmin rm` the briefs it names and add them "
            "again")
    return read


def _similar_pairs(stored: StoredVectors, bits: Codes, codes: Int8Codes, norms: Floats,
                   rows: Ints, threshold: float, notes: list[str]) -> Pairs:
    """The similar pairs among the archived rows (`codes` are theirs, in `rows` order); a
    search that may miss pairs says so in `notes`."""
    local = near_pairs(bits, codes, threshold, norms=norms, incomplete=notes.append)
    # every row (rows = 0..n-1): no mapped copies (208 MB at a million briefs' 1.3e7 pairs)
    whole = len(rows) == 0 or int(rows[-1]) == len(rows) - 1
    i, j = (local.i, local.j) if whole else (rows[local.i], rows[local.j])
    # hook: pairs of two binary-tier rows (`briefmin tier`) read their cosine their way
    pairs = Pairs(i, j, stored.pair_cosines(i, j, local.similarity)).at_least(threshold)
    del local, i, j  # ~470 MB at a million briefs' 1.3e7 pairs, held through grouping
    return pairs


@dataclass
class _Vectors:
    """What the vector side gives: every row's codes (None when no brief needs them) and
    lengths, the archived briefs' rows of both (None in path mode), and the similar pairs
    among the archived briefs (none in path mode)."""

    codes: Int8Codes | None
    norms: Floats
    archived_codes: Int8Codes | None
    archived_norms: Floats | None
    pairs: Pairs


class _VectorSide:
    """The codes, their lengths and the archive's similar search, in a thread (numpy, BLAS,
    zstd and SQLite release the GIL) beside this one's catalogue read and text pass; or, not
    concurrent, all of it at `result`. The thread reads the codes at once, then waits for
    the rows of the archived briefs (`hand`) before it searches. Until then it uses the
    archive's connection, so `handing` waits for it should the catalogue read fail."""

    def __init__(self, archive: Archive, stored: StoredVectors, threshold: float,
                 concurrent: bool) -> None:
        self._archive, self._stored, self._threshold = archive, stored, threshold
        self._handed = threading.Event()
        self._rows: Ints = np.zeros(0, np.int64)
        self._needed = self._search = False
        self._concurrent = concurrent
        self._connection_free = threading.Event()  # the thread reads no more through it
        self.notes: list[str] = []  # the search's, for the report (read after `result`)
        self._result = _started(self._work, concurrent)

    def hand(self, archived_rows: Ints, *, needed: bool, search: bool) -> None:
        """The archived briefs' rows (sorted); `needed`: whether any brief needs codes;
        `search`: whether to search the archived rows' similar pairs (not in path mode)."""
        self._rows, self._needed, self._search = archived_rows, needed, search
        self._handed.set()

    @contextmanager
    def handing(self) -> Iterator[None]:
        """Around the code between the thread's start and `result`: if it fails, the thread
        is told to stop (unless it searches already) and waited for until it is done with
        the archive's connection, which the caller's way out closes: a damaged text raised
        while the thread still read the codes, and the process crashed (exit 139)."""
        try:
            yield
        except BaseException:
            if self._concurrent:
                self._needed = False
                self._handed.set()
                self._connection_free.wait()
            raise

    def result(self) -> _Vectors:
        return self._result()

    def _work(self) -> _Vectors:
        from .store import BRIEF_KINDS

        codes: Int8Codes | None = None
        failed: BaseException | None = None
        try:
            codes = self._archive.all_int8(BRIEF_KINDS)
        except BaseException as error:  # raised only if a brief needs the codes
            failed = error
        finally:
            self._connection_free.set()  # the rest is numpy only
        # per row: tiered rows (`briefmin tier`) have lengths of their own
        norms = self._stored.lengths(codes) if codes is not None else None
        self._handed.wait()
        if not self._needed:
            return _Vectors(None, np.zeros(0, np.float32), None, None, Pairs.empty())
        if failed is not None:
            raise failed
        assert codes is not None and norms is not None
        rows, stored = self._rows, self._stored
        if not self._search or not len(rows):
            return _Vectors(codes, norms, None, None, Pairs.empty())
        # the archived briefs' rows, copied out once (384 MB at a million briefs) for the
        # pair search and the histogram alike; every row: no copy needed (rows sorted)
        whole = len(rows) == len(stored)
        archived_codes, archived_norms = ((codes, norms) if whole else
                                          (codes[rows], norms[rows]))
        bits = stored.bits if whole else stored.bits[rows]
        pairs = _similar_pairs(stored, bits, archived_codes, archived_norms, rows,
                               self._threshold, self.notes)
        return _Vectors(codes, norms, archived_codes, archived_norms, pairs)


_T = TypeVar("_T")


def _started(work: Callable[[], _T], concurrent: bool) -> Callable[[], _T]:
    """`work` started in a daemon thread (a Ctrl-C does not wait for it), or, not concurrent,
    deferred; the function returned waits for its result and raises its error."""
    if not concurrent:
        return work
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as error:  # re-raised in the caller's thread
            box["error"] = error

    thread = threading.Thread(target=run, name="briefmin-similar", daemon=True)
    thread.start()

    def result() -> _T:
        thread.join()
        if "error" in box:
            raise box["error"]
        out: _T = box.pop("result")
        return out

    return result


@dataclass
class _Lexical:
    """What the text channel knows: each unit's normalized-text key, its shingles, and the
    pairs of rows at or above the Jaccard threshold."""

    rows: Ints  # the unit rows, in the order of keys and shingles
    keys: npt.NDArray[np.bytes_]  # each unit's text_key (32 bytes; arrays, not a dict of
    # 1M bytes objects)
    position: Ints  # row -> index into keys and shingles (-1: no unit)
    shingles: Shingles
    pairs: Pairs

    @classmethod
    def read(cls, units: dict[bytes, _Unit], threshold: float, first_new: int | None,
             read: Callable[[Iterable[int]], Iterator[tuple[int, bytes]]]) -> _Lexical:
        """Every unit's text is read once for its key and shingles: the stored ones as they
        lie in their blocks (`read`: each block inflated once, streamed, so only a chunk of
        texts is held at a time), then the new ones. In path mode (first_new: the first new
        row) only pairs with a new brief are kept."""
        stored = [(u.content_id, u.row) for u in units.values() if u.given is None]
        given = [u for u in units.values() if u.given is not None]
        row_of = np.full(max((c for c, _ in stored), default=-1) + 1, -1, np.int64)
        if stored:
            row_of[np.array([c for c, _ in stored])] = [r for _, r in stored]
        rows = np.zeros(len(stored) + len(given), np.int64)  # in the order texts are read
        keys = np.zeros(len(rows), "S32")

        def texts() -> Iterator[str | bytes]:
            k = 0
            for content_id, data in read(c for c, _ in stored):
                rows[k], keys[k] = row_of[content_id], stored_text_key(data)
                k += 1
                yield data
            for unit in given:
                assert unit.given is not None
                rows[k], keys[k] = unit.row, text_key(unit.given)
                k += 1
                yield unit.given

        shingles = shingle(texts())
        found = lexical_pairs(shingles, threshold)
        found = found.where(near_copies(shingles, found.i, found.j, threshold,
                                        len(stored) if given else None))
        pairs = Pairs(rows[found.i], rows[found.j], found.similarity)
        if first_new is not None:
            pairs = pairs.where((pairs.i >= first_new) | (pairs.j >= first_new))
        position = np.full(int(rows.max(initial=-1)) + 1, -1, np.int64)
        position[rows] = np.arange(len(rows), dtype=np.int64)
        release_freed()
        return cls(rows, keys, position, shingles, pairs)

    def jaccards(self, a: Ints, b: Ints) -> list[float]:
        """The exact Jaccard index of rows a[k] and b[k] (1.0 for a row with itself), as
        `Shingles.jaccard` divides, the shingles shared counted for all pairs at once."""
        ratios = self.shingles.jaccard_ratios(self.position[a], self.position[b])
        ratios[a == b] = 1.0
        out: list[float] = ratios.tolist()
        return out

    def classes(self) -> list[Ints]:
        """The rows of each normalized text held by more than one unit (a sort, not a dict
        of a million lists)."""
        order = np.argsort(self.keys, kind="stable")
        ordered = self.keys[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        ends = np.r_[starts[1:], len(ordered)]
        return [self.rows[order[a:b]] for a, b in zip(starts.tolist(), ends.tolist(),
                                                      strict=True) if b - a > 1]


def _group(units: dict[bytes, _Unit], lexical: _Lexical, pairs: Pairs, thresholds: Thresholds,
           evidence: _Evidence) -> list[Group]:
    """Groups of each kind, each pair of briefs in its strongest kind only:

    - exact: the paths of one content;
    - normalized: contents with one normalized text (an equivalence: no chaining possible);
    - near-identical, then similar: star groups (`grouping.assign`) over one node per
      normalized class, from the lexical pairs, then the semantic pairs among the briefs that
      are no near-identical member. Every member is at least its kind's threshold from its
      group's first member, and pruning all but the first of every group keeps each first."""
    groups: list[Group] = []
    for unit in units.values():
        unit.paths.sort()
        if len(unit.paths) > 1:
            groups.append(Group("exact", [Member(p, 1.0, 1.0, new) for _, p, new in unit.paths]))
    by_row = {u.row: u for u in units.values()}
    rank = _ranks(by_row)
    # a normalized class takes part in the other kinds through its oldest content
    hidden = np.zeros(len(rank), bool)
    for rows in lexical.classes():
        members = sorted((by_row[r] for r in rows.tolist()), key=lambda u: u.paths[0])
        groups.append(_star("normalized", members[0], [(u, 1.0) for u in members[1:]],
                            evidence))
        hidden[[u.row for u in members[1:]]] = True

    def stars(kind: str, found: Pairs, threshold: float,
              excluded: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        present = np.zeros(len(rank), bool)
        present[lexical.rows] = True
        found = found.where(present[found.i] & present[found.j])
        done = assign(rank, found.i, found.j, found.similarity, threshold, excluded)
        for rep, members in done.groups().items():
            groups.append(_star(kind, by_row[rep], [(by_row[m], s) for m, s in members],
                                evidence))
        joined = excluded.copy()
        joined[done.member] = True
        return joined

    hidden = stars("near-identical", lexical.pairs, thresholds.near_identical, hidden)
    stars("similar", pairs, thresholds.similar, hidden)
    groups.sort(key=lambda g: (KIND_RANK[g.kind], g.members[0].path))
    return groups


def _star(kind: str, first: _Unit, members: list[tuple[_Unit, float]],
          evidence: _Evidence) -> Group:
    out = [_member(first, 1.0, 1.0)]
    for unit, _ in members:
        out.append(evidence.owed(_member(unit, 0.0, 0.0), first.row, unit.row))
    return Group(kind, out)


class _Evidence:
    """Each group member's cosine and Jaccard to the group's first, worked out for every
    member at once (`fill`): the rows decoded a chunk at a time and the shingles shared
    counted in one pass, where a call per member (a decode of each side, a set
    intersection) was seconds of one core at a million briefs. The values are those of one
    pair at a time: the same dot product a pair, the same division."""

    def __init__(self, stored: StoredVectors, codes: Int8Codes | None, norms: Floats,
                 new_vectors: Floats, lexical: _Lexical) -> None:
        self._stored, self._codes, self._norms = stored, codes, norms
        self._new, self._lexical = new_vectors, lexical
        self._owed: list[tuple[Member, int, int]] = []

    def owed(self, member: Member, a: int, b: int) -> Member:
        """`member` (of row b), whose closeness to row a `fill` sets."""
        self._owed.append((member, a, b))
        return member

    def fill(self, chunk: int = 8192) -> None:
        if not self._owed:
            return
        a = np.array([x for _, x, _ in self._owed], np.int64)
        b = np.array([y for _, _, y in self._owed], np.int64)
        cosines = self._cosines(a, b, chunk)
        jaccards = self._lexical.jaccards(a, b)
        for (member, _, _), cosine, jaccard in zip(self._owed, cosines, jaccards, strict=True):
            member.similarity, member.jaccard = cosine, jaccard
        self._owed = []

    def _vectors(self, rows: Ints) -> Floats:
        n = len(self._stored)
        width = self._codes.shape[1] if self._codes is not None else self._new.shape[1]
        out = np.empty((len(rows), width), np.float32)
        old = rows < n
        if old.any():
            assert self._codes is not None
            out[old] = decoded(self._codes[rows[old]], self._norms[rows[old]])
        if not old.all():
            out[~old] = self._new[rows[~old] - n]
        return out

    def _cosines(self, a: Ints, b: Ints, chunk: int) -> list[float]:
        out = [1.0] * len(a)
        for start in range(0, len(a), chunk):
            va, vb = self._vectors(a[start:start + chunk]), self._vectors(b[start:start + chunk])
            for k in np.flatnonzero(a[start:start + chunk] != b[start:start + chunk]).tolist():
                cosine = float(va[k] @ vb[k])  # a dot product a pair, as one pair's would be
                out[start + k] = -1.0 if cosine < -1.0 else 1.0 if cosine > 1.0 else cosine
        # hook: pairs of two binary-tier rows (`briefmin tier`) read their cosine their way
        stored = np.flatnonzero((a != b) & (np.maximum(a, b) < len(self._stored)))
        if len(stored):
            read = self._stored.pair_cosines(a[stored], b[stored],
                                              np.array([out[k] for k in stored.tolist()],
                                                       np.float32))
            for k, cosine in zip(stored.tolist(), read.tolist(), strict=True):
                out[k] = cosine
        return out


def _ranks(by_row: dict[int, _Unit]) -> Ints:
    """Each row's age rank (0 = oldest first path); rows of no unit rank last."""
    rows = sorted(by_row, key=lambda r: by_row[r].paths[0])
    rank = np.full(max(by_row, default=-1) + 1, len(rows), np.int64)
    rank[np.array(rows, np.int64)] = np.arange(len(rows), dtype=np.int64)
    return rank


def _member(unit: _Unit, similarity: float, jaccard: float) -> Member:
    _, path, new = unit.paths[0]
    return Member(path, similarity, jaccard, new)


NEAREST_SAMPLE = 2000


def _sampled_nearest(codes: Int8Codes, norms: Floats, seed: int = 0) -> Floats:
    """The similarity of a seeded sample of briefs to their nearest other brief (exact, by
    brute force over all codes: a sample keeps it to seconds at a million briefs)."""
    n = len(codes)
    if n < 2:
        return np.zeros(0, np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(n, min(n, NEAREST_SAMPLE), replace=False))
    queries = decoded(codes[rows], norms[rows])
    best = np.full(len(rows), -1.0, np.float32)
    for start in range(0, n, 65536):
        sims = queries @ decoded(codes[start:start + 65536], norms[start:start + 65536]).T
        own = (rows >= start) & (rows < start + 65536)
        sims[np.flatnonzero(own), rows[own] - start] = -1.0  # not itself
        best = np.maximum(best, sims.max(axis=1))
    return best


def _new_pairs(new_vectors: Floats, codes: Int8Codes | None, norms: Floats,
               archived_rows: Ints, n_stored: int, gate: float) -> tuple[Pairs, Floats]:
    """New briefs against the archive (brute force over its int8 codes: a CI check brings a
    few briefs) and against each other (exact floats). Rows: archived, then n_stored + k."""
    parts = []
    best = np.full(len(new_vectors), -1.0, np.float32)
    if codes is not None and len(archived_rows) and len(new_vectors):
        against, best = query_pairs(new_vectors, codes[archived_rows], norms[archived_rows],
                                    gate)
        parts.append(Pairs(archived_rows[against.j], against.i + n_stored,
                           against.similarity))
    among = all_pairs(new_vectors, gate)
    if len(new_vectors) > 1:
        sims = new_vectors @ new_vectors.T
        np.fill_diagonal(sims, -1.0)
        best = np.maximum(best, sims.max(axis=1))
    parts.append(Pairs(among.i + n_stored, among.j + n_stored, among.similarity))
    return Pairs.concat(parts), best


def _given_groups(groups: list[Group], units: dict[bytes, _Unit], lexical: _Lexical,
                  pairs: Pairs, thresholds: Thresholds,
                  evidence: _Evidence) -> list[Group]:
    """CI mode's groups: those that involve a given brief, plus one for every pair with a
    given brief at or above its kind's threshold that no group of that kind or a stronger one
    holds. Star grouping drops such pairs where one end is already a member (of a stronger
    kind, or of an older representative): a new brief near only another new brief that
    joined an archived brief's group would go unreported. Each leftover pair's older end
    becomes the first of a group of its kind, the younger ends its members, so every member
    is still a near copy of the first; a brief may then be in two groups. Pairs between
    archived briefs are not looked for in CI mode."""
    by_row = {u.row: u for u in units.values()}
    row_of = {path: u.row for u in units.values() for _, path, _ in u.paths}
    rank = _ranks(by_row)
    held: dict[int, set[tuple[int, int]]] = {}  # row -> (kind rank, group) of those holding it

    def hold(group: Group, k: int) -> None:
        for member in group.members:
            held.setdefault(row_of[member.path], set()).add((KIND_RANK[group.kind], k))

    def together(a: int, b: int, kind: str) -> bool:
        return any(strength <= KIND_RANK[kind]
                   for strength, _ in held.get(a, set()) & held.get(b, set()))

    for k, group in enumerate(groups):
        hold(group, k)
    out = list(groups)
    for kind, found, threshold in (("near-identical", lexical.pairs, thresholds.near_identical),
                                   ("similar", pairs, thresholds.similar)):
        keep = found.similarity >= np.float32(threshold)  # as `assign` compares
        stars: dict[int, set[int]] = {}
        for a, b in zip(found.i[keep].tolist(), found.j[keep].tolist(), strict=True):
            if a == b or a not in by_row or b not in by_row or together(a, b, kind):
                continue
            old, young = (a, b) if rank[a] < rank[b] else (b, a)
            stars.setdefault(old, set()).add(young)
        for old in sorted(stars, key=lambda r: rank[r]):
            members = sorted(stars[old], key=lambda r: rank[r])
            out.append(_star(kind, by_row[old], [(by_row[m], 0.0) for m in members], evidence))
            hold(out[-1], len(out) - 1)
    out = [g for g in out if any(m.new for m in g.members)]
    out.sort(key=lambda g: (KIND_RANK[g.kind], g.members[0].path))
    return out


def _age(record: BriefRecord) -> tuple[int, str, str]:
    return (0, record.added_at, record.path)


@dataclass
class PrunePlan:
    """What a prune removes, and the paths it leaves because of their history."""

    removals: list[Removal]
    # paths a group would remove whose earlier versions hold bytes no brief that stays
    # holds: removing a path removes its every version, and these are the only copies
    held: list[str]


def plan_prune(archive: Archive, report: DedupeReport, kinds: Sequence[str] = PRUNE_KINDS
               ) -> PrunePlan:
    """The removals of `report.removals(kinds)` but for held paths: a brief whose latest
    version copies another can hold, in an earlier version, text found nowhere else (an
    audit's find: the prune deleted it, and the snapshot that held it lost it)."""
    doomed = {r.path for r in report.removals(kinds)}
    if not doomed:
        return PrunePlan([], [])
    records = archive.records(all_versions=True)
    staying = {r.content_id for r in records if r.path not in doomed}
    latest: dict[str, int] = {}
    for r in records:
        if r.path in doomed:
            latest[r.path] = max(latest.get(r.path, 0), r.version)
    held = sorted({r.path for r in records if r.path in doomed
                   and r.version < latest[r.path] and r.content_id not in staying})
    return PrunePlan(report.removals(kinds, keep=set(held)), held)


def prune(archive: Archive, report: DedupeReport, kinds: Sequence[str] = PRUNE_KINDS,
          plan: PrunePlan | None = None) -> list[BriefRecord]:
    """Remove every archived brief but the first (oldest) of each group of these kinds (by
    default not `similar`: two texts of one meaning may both be wanted), but for the paths
    `plan_prune` holds; returns what went. Each path is removed by itself, whatever `rm`
    would read it as (a folder's name, a glob, a sha256 prefix). `plan`:
    `plan_prune(archive, report, kinds)` if made already."""
    plan = plan or plan_prune(archive, report, kinds)
    doomed = sorted({r.path for r in plan.removals})
    if not doomed:
        return []
    return archive.rm(doomed, exact=True)
