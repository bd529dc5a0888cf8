"""The lexical index: an SQLite FTS5 table over each stored content's decoded text, one row
per content (rowid = contents.id), kept in the same transactions as the contents.

The table is contentless (`content=''`, the text is already in the blocks) and keeps no
positions (`detail=none`): on the kernel docs that costs 0.27x of `tar c | zstd -19`, against
0.61x for `detail=column` and 1.34x for `detail=full`. Without positions FTS5 answers which
contents hold a term but cannot rank (its bm25() sees no term frequencies) nor match phrases,
so this module returns the matching rowids of each term, and scoring (briefmin.search) and
phrase checks (against the stored text of a few candidates) happen above it.

SQLite here is 3.40, before `contentless_delete=1` (3.43): removing a row takes FTS5's
'delete' command with the very text that was indexed, which the store still has when it
garbage-collects a content (see Archive.rm)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from ..errors import ArchiveError
from .connection import Connection

# Common English words, left out of the index: on the 64,562 Debian descriptions they were
# a third of its size, and the query side drops them anyway (BM25 gives them almost no
# weight). Part of the file format: unindexing needs the very words that were indexed.
_STOP_LIST = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just me more
most my no nor not now of off on once only or other our ours out over own same she should so
some such than that the their theirs them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your yours
"""
STOP_WORDS = frozenset(_STOP_LIST.split())
# a token as SQLite's unicode61 tokenizer cuts it: a run of letters and digits
TOKEN = re.compile(r"[^\W_]+")

TABLE = "lexical"
# unicode61 folds case and diacritics and splits at every non-alphanumeric character, so
# `CONFIG_FOO_BAR`, `ENG-2291` and `/sys/class/net` are indexed as their parts; the query side
# (briefmin.query) asks for all parts and checks the literal in the stored text. porter stems
# English words: on 1,000 Debian synopsis queries over 20,000 descriptions it lifted lexical
# recall@1 from 0.545 to 0.575 and recall@10 from 0.782 to 0.795. No per-row sizes
# (columnsize=0): the ranking takes lengths from contents.size. The CREATE is in schema.py.
# meta key the migration sets: the contents stored before the index still need indexing
BACKFILL_KEY = "lexical_backfill"


def exists(db: Connection) -> bool:
    """Whether the archive has the index (formats before it have none until a write)."""
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)))


# -- writing (inside the caller's transaction) ---------------------------------------------

def indexed_text(text: str) -> str:
    """What the index is given for a text: the text without its stop words."""
    return TOKEN.sub(lambda m: " " if m.group().casefold() in STOP_WORDS else m.group(), text)


def index(db: Connection, texts: Iterable[tuple[int, str]]) -> None:
    """Index (content id, decoded text) pairs."""
    db.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)",
                   [(i, indexed_text(t)) for i, t in texts])


def unindex(db: Connection, texts: Iterable[tuple[int, str]]) -> None:
    """Remove contents from the index; each text must be the one that was indexed."""
    db.executemany(f"INSERT INTO {TABLE}({TABLE}, rowid, text) VALUES ('delete', ?, ?)",
                   [(i, indexed_text(t)) for i, t in texts])


def rebuild(db: Connection, content_ids: Iterable[int],
            text: Callable[[int], str | None]) -> None:
    """Empty the index and index these contents again, leaving out those whose text is None
    (damaged): what `rm` does when a content it removes cannot be read for unindexing."""
    db.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")
    for content_id in content_ids:
        value = text(content_id)
        if value is not None:
            index(db, [(content_id, value)])
    optimize(db)


def optimize(db: Connection) -> None:
    """Merge the index into one segment, dropping what deletes left behind (FTS5 keeps
    tombstones until segments merge, so without this `rm` would not give the space back).
    After an add it saves ~6% (64,562 Debian descriptions: 2.88 -> 2.71 MB, in 0.3 s)."""
    db.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")


def backfill(db: Connection, content_ids: Iterable[int], text: Callable[[int], str]) -> int:
    """Index the contents stored before the index existed (the migration asked for it), and
    clear the request; returns how many were indexed. Runs in the caller's transaction."""
    pending = db.query("SELECT value FROM meta WHERE key = ?", (BACKFILL_KEY,))
    if not pending:
        return 0
    ids = list(content_ids)
    for start in range(0, len(ids), 256):
        index(db, [(i, text(i)) for i in ids[start:start + 256]])
    db.execute("DELETE FROM meta WHERE key = ?", (BACKFILL_KEY,))
    optimize(db)
    return len(ids)


# -- reading -------------------------------------------------------------------------------

def matching(db: Connection, term: str) -> npt.NDArray[np.int64]:
    """Content ids whose text holds `term` (one token, as the tokenizer sees it), sorted."""
    quoted = '"' + term.replace('"', '""') + '"'
    rows = db.query(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ?", (quoted,))
    return np.sort(np.fromiter((r for (r,) in rows), np.int64, len(rows)))


def sizes(db: Connection) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(content ids sorted, their sizes in bytes): BM25's document lengths."""
    rows = db.query("SELECT id, size FROM contents ORDER BY id")
    table = np.array(rows, np.int64).reshape(-1, 2)
    return table[:, 0].copy(), table[:, 1].copy()


def index_bytes(db: Connection) -> int:
    """Bytes the index's own tables take (the FTS5 shadow tables)."""
    try:
        (n,), = db.query("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE ?",
                         (f"{TABLE}_%",))
    except ArchiveError:  # dbstat is a compile-time option of SQLite
        return 0
    return int(n)
