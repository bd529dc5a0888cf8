"""What an edited copy changed: the words where two near copies differ, written as
`git diff --word-diff` writes them (`PermitRootLogin [-no-]{+yes+}`), so a reader of a
`near-identical` group sees whether the copy changed a fact (a setting, a number, a
"never") or only a word of its wording.

difflib's matcher over the two word lists (a line-based diff would show a re-wrapped
paragraph as changed throughout). The texts are near copies (at most 64 changed shingles
between them, briefmin.dedupe), so the changed runs are few. Its autojunk heuristic (words
in over 1% of a text of 200 or more do not start a match) is on only for long texts
(JUNK_FROM_WORDS): a 39,569-word kernel doc against a copy with three words changed took
0.48 s with it and 2.0 s without, with the same three changes found; but in a 400-word
table of numbers one changed number came out as a replacement of the whole table."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Sequence

from . import cjk

# words of context before a change, and at most this many words of a changed run (a
# sentence added is shown by its start)
CONTEXT_WORDS = 1
RUN_WORDS = 8
# briefs longer than this are not compared word by word (about 0.6 s a pair at the limit)
MAX_WORDS = 50_000
# from this many words (the two texts together) difflib's autojunk is on
JUNK_FROM_WORDS = 10_000
# a word: a run of characters that are neither white space nor a Chinese or Japanese letter,
# or one such letter (their words are not spaced: one changed letter would otherwise show a
# whole clause as changed, as dedupe's shingles read them too)
_WORD = re.compile(f"[{cjk.LETTERS}]|[^\\s{cjk.LETTERS}]+")


class Change(str):
    """One change as `git diff --word-diff` writes it (`before [-removed-]{+added+}`), a
    string to print and to put in JSON, that keeps its three parts: a summary that cuts it to
    a line cuts each side by itself, which the written form cannot always tell apart (a text
    may hold `-]{+` of its own)."""

    _parts: tuple[str, str, str]

    def __new__(cls, before: str, removed: str, added: str) -> Change:
        change = super().__new__(cls, _written(before, removed, added))
        change._parts = (before, removed, added)
        return change

    # read-only, as the text is: the parts cannot drift from what is printed
    @property
    def before(self) -> str:
        return self._parts[0]

    @property
    def removed(self) -> str:
        return self._parts[1]

    @property
    def added(self) -> str:
        return self._parts[2]

    def __reduce__(self) -> tuple[type[Change], tuple[str, str, str]]:
        return Change, self._parts


def changes(old: str, new: str) -> list[Change] | None:
    """Each run of words `new` changed against `old`, with the word before it as context:
    `[-removed-]`, `{+added+}`, or both for a replacement, as the texts write them (white
    space shown as one space). White space does not count (a copy re-indented or re-wrapped
    has none). None when a text is over MAX_WORDS."""
    if _over(old) or _over(new):  # before a match object is made for each word
        return None
    a, b = list(_WORD.finditer(old)), list(_WORD.finditer(new))
    out = []
    matcher = difflib.SequenceMatcher(None, [m.group() for m in a], [m.group() for m in b],
                                      autojunk=len(a) + len(b) >= JUNK_FROM_WORDS)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            out.append(Change(_shown(old, a[max(0, i1 - CONTEXT_WORDS):i1]),
                              _shown(old, a[i1:i2]), _shown(new, b[j1:j2])))
    return out


def _over(text: str) -> bool:
    """Whether `text` holds more than MAX_WORDS words (counting no further)."""
    return len(text) > MAX_WORDS and next(
        itertools.islice(_WORD.finditer(text), MAX_WORDS, None), None) is not None


def _shown(text: str, words: list[re.Match[str]]) -> str:
    """The words as `text` writes them, at most RUN_WORDS of them."""
    if not words:
        return ""
    kept = words[:RUN_WORDS]
    shown = " ".join(text[kept[0].start():kept[-1].end()].split())
    return shown + (f" …({len(words) - RUN_WORDS} more words)" if len(words) > RUN_WORDS
                    else "")


def summary(found: Sequence[str] | None, width: int = 72) -> str:
    """The changes on one line of `width` characters: as many as fit, then how many more
    (the first, cut, when none fits whole); `same words, other layout` when only the layout
    differs (indentation, line breaks, spaces: a `return` moved out of its `if` is no copy
    to ignore)."""
    if found is None:
        return "too long to compare"
    if not found:
        return "same words, other layout"
    shown, count = "", 0
    for change in found:
        left = len(found) - count - 1  # after this one: their count is said at the end
        room = width - (len(shown) + 2 if shown else 0) - (len(_more(left)) if left else 0)
        if len(change) > room:
            if not shown:  # at least one change, cut to fit
                shown, count = _fitted(change, max(room, 2)), 1
            break
        shown += ("; " if shown else "") + change
        count += 1
    return shown + (_more(len(found) - count) if count < len(found) else "")


def _more(count: int) -> str:
    return f" (+{count} more)"


def _fitted(change: str, width: int) -> str:
    """`change` in `width` characters: what went and what came each cut at a word with `…`
    inside its own brackets, so a long removal never hides the words that replaced it (a
    string not of `changes`' making is cut where the line ends)."""
    if not isinstance(change, Change):
        return change[:width - 1] + "…"
    before, sides = change.before, [change.removed, change.added]
    present = [i for i, side in enumerate(sides) if side]
    room = width - (len(before) + 1 if before else 0) - 4 * len(present)  # 4: the brackets
    if room < 2 * len(present):  # not even a letter and `…` a side
        return change[:width - 1] + "…"
    rooms = [0, 0]
    if len(present) == 1:
        rooms[present[0]] = room
    else:  # the shorter side whole where it fits in half the room, the longer the rest
        shorter = 0 if len(sides[0]) <= len(sides[1]) else 1
        rooms[shorter] = min(len(sides[shorter]), room // 2)
        rooms[1 - shorter] = room - rooms[shorter]
    return _written(before, *(_cut(side, r) for side, r in zip(sides, rooms, strict=True)))


def _written(before: str, removed: str, added: str) -> str:
    """A change written as `changes` writes it."""
    return (f"{before} " if before else "") + (f"[-{removed}-]" if removed else "") + (
        f"{{+{added}+}}" if added else "")


def _cut(text: str, room: int) -> str:
    """`text` in `room` characters: whole words and `…` when it is longer (letter by letter
    in a text with no spaces, as Chinese is written)."""
    if not text or len(text) <= room:
        return text
    kept = text[:room - 1].split(" …(")[0]  # not half of `…(5 more words)`
    if " " in kept and len(kept) == room - 1 and text[room - 1] != " ":  # a word cut
        kept = kept[:kept.rindex(" ")]
    return kept.rstrip() + "…"
