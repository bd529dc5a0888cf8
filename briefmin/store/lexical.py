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

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from ..errors import ArchiveError
from .connection import Connection

TABLE = "lexical"
# unicode61 folds case and diacritics and splits at every non-alphanumeric character, so
# `CONFIG_FOO_BAR`, `ENG-2291` and `/sys/class/net` are indexed as their parts; the query side
# (briefmin.query) asks for all parts and checks the literal in the stored text. porter stems
# English words: on 5,000 Debian synopsis queries it lifted lexical recall@10 (bench_search.py)
CREATE = (f"CREATE VIRTUAL TABLE {TABLE} USING fts5(text, content='', detail=none, "
          "tokenize='porter unicode61 remove_diacritics 2')")
# meta key the migration sets: the contents stored before the index still need indexing
BACKFILL_KEY = "lexical_backfill"


def exists(db: Connection) -> bool:
    """Whether the archive has the index (formats before it have none until a write)."""
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)))


# -- writing (inside the caller's transaction) ---------------------------------------------

def index(db: Connection, texts: Iterable[tuple[int, str]]) -> None:
    """Index (content id, decoded text) pairs."""
    db.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)", list(texts))


def unindex(db: Connection, texts: Iterable[tuple[int, str]]) -> None:
    """Remove contents from the index; each text must be the one that was indexed."""
    db.executemany(f"INSERT INTO {TABLE}({TABLE}, rowid, text) VALUES ('delete', ?, ?)",
                   list(texts))


def optimize(db: Connection) -> None:
    """Merge the index into one segment, dropping what deletes left behind (FTS5 keeps
    tombstones until segments merge, so without this `rm` would not give the space back)."""
    db.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")


def backfill(db: Connection, content_ids: Iterable[int], text: Callable[[int], str]) -> int:
    """Index the contents stored before the index existed (the migration asked for it), and
    clear the request; returns how many were indexed. Runs in the caller's transaction."""
    pending = db.query("SELECT value FROM meta WHERE key = ?", (BACKFILL_KEY,))
    if not pending:
        return 0
    # a contentless table still lists its rowids: a backfill cut short never doubles a row
    done = {int(i) for (i,) in db.query(f"SELECT rowid FROM {TABLE}")}
    ids = [i for i in content_ids if i not in done]
    for start in range(0, len(ids), 256):
        index(db, [(i, text(i)) for i in ids[start:start + 256]])
    db.execute("DELETE FROM meta WHERE key = ?", (BACKFILL_KEY,))
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
