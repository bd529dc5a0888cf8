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
garbage-collects a content (see Archive.rm).

FTS5's shadow tables cannot carry format 4's row checksums, so `verify` checks the index as
derived data: `Rebuilt` indexes the texts verify inflates anyway into an in-memory table and
compares the two (see `Rebuilt.compare`)."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import cjk
from ..errors import ArchiveError, IntegrityError
from . import schema
from .connection import SQLITE_ERRORS, Connection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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
BACKFILL_KEY = schema.LEXICAL_BACKFILL
# the first format whose index holds each CJK letter as its own token (before it, a run of
# them was one token: a word inside the run could not be found)
SPLIT_CJK_FORMAT = schema.SPLIT_CJK


def exists(db: Connection) -> bool:
    """Whether the archive has the index (formats before it have none until a write)."""
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)))


def splits_cjk(db: Connection) -> bool:
    """Whether the archive's index holds each CJK letter and Korean syllable as its own
    token (format SPLIT_CJK_FORMAT on); an older format's holds a run of them as one."""
    return db.version >= SPLIT_CJK_FORMAT


def complete(db: Connection) -> bool:
    """Whether the archive has the index with every content in it (a migrated archive has
    none until its backfill, on the next write)."""
    return exists(db) and not db.query("SELECT 1 FROM meta WHERE key = ?", (BACKFILL_KEY,))


# -- writing (inside the caller's transaction) ---------------------------------------------

def indexed_text(text: str, split_cjk: bool = True) -> str:
    """What the index is given for a text: the text with a space on each side of every
    Chinese or Japanese letter and Korean syllable (`cjk.token_spaced`: each a token), and
    without its stop words, each stop word token (casefolded) replaced by a space. Part of
    the file format: `by_token` is the definition; the two patterns give the very same text
    without a Python call per token (10,000 synthetic briefs: 0.64 -> 0.37 s CPU), which
    tests/store/test_lexical.py checks. `split_cjk=False` is what formats before
    SPLIT_CJK_FORMAT indexed (a run of such letters was one token), for verifying them."""
    stop_ascii, stop_unicode, folds_to_ascii = _patterns()
    if text.isascii():
        return stop_ascii.sub(" ", text)
    if split_cjk:
        text = cjk.token_spaced(text)
    if not folds_to_ascii.search(text):
        return stop_unicode.sub(" ", text)
    return by_token(text, split_cjk=False)


def by_token(text: str, split_cjk: bool = True) -> str:
    """`indexed_text` as defined: each unicode61 token looked up, casefolded."""
    if split_cjk:
        text = cjk.token_spaced(text)
    return TOKEN.sub(lambda m: " " if m.group().casefold() in STOP_WORDS else m.group(), text)


def _alternation(words: Iterable[str]) -> str:
    """A pattern matching exactly these words, as a trie (`re` tries the branches of a flat
    alternation one by one at every position: 3.5x slower on 120 words)."""
    tails: dict[str, list[str]] = {}
    for word in words:
        tails.setdefault(word[:1], []).append(word[1:])
    optional = tails.pop("", None) is not None
    branches = [re.escape(first) + _alternation(rest) for first, rest in sorted(tails.items())]
    if not branches:
        return ""
    if len(branches) == 1 and not optional:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if optional else "")


# a stop word as a whole token (no letter or digit on either side), in any case. For ASCII
# text casefold() is lower() and these are exactly the tokens `by_token` drops. In other
# text `re.IGNORECASE` lets only these characters match an ASCII letter or casefold to
# ASCII (the Kelvin sign, long s, dotted and dotless i, ß, ligatures: computed over all
# code points by the test), so a text without them takes the unicode pattern; with them,
# `by_token`
FOLDING_TO_ASCII = ("\u00df\u0130\u0131\u0149\u017f\u01f0\u1e96\u1e97\u1e98\u1e99\u1e9a"
                    "\u1e9e\u212a\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06")


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(the ASCII stop-word pattern, the unicode one, the characters folding to ASCII),
    compiled at their first use: ~7 ms that every command opening an archive paid at import
    (a restore, an `ls`) though only writing the index uses them."""
    words = _alternation(STOP_WORDS)
    return (re.compile(r"(?<![A-Za-z0-9])" + words + r"(?![A-Za-z0-9])",
                       re.IGNORECASE | re.ASCII),
            re.compile(r"(?<![^\W_])" + words + r"(?![^\W_])", re.IGNORECASE),
            re.compile(f"[{FOLDING_TO_ASCII}]"))


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
    _index_all(db, content_ids, text)


def optimize(db: Connection) -> None:
    """Merge the index into one segment, dropping what deletes left behind (FTS5 keeps
    tombstones until segments merge, so without this `rm` would not give the space back).
    After an add it saves ~6% (64,562 Debian descriptions: 2.88 -> 2.71 MB, in 0.3 s)."""
    db.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")


def backfill(db: Connection, content_ids: Iterable[int],
             text: Callable[[int], str | None]) -> int:
    """Index the contents stored before the index existed, or before format 9 (the migration
    asked for it), leaving out those whose text is None (damaged: `verify` reports them, and
    `rm` of them rebuilds the index), and clear the request; returns how many were indexed.
    Runs in the caller's transaction."""
    pending = db.query("SELECT value FROM meta WHERE key = ?", (BACKFILL_KEY,))
    if not pending:
        return 0
    db.execute("DELETE FROM meta WHERE key = ?", (BACKFILL_KEY,))
    return _index_all(db, content_ids, text)


def _index_all(db: Connection, content_ids: Iterable[int],
               text: Callable[[int], str | None]) -> int:
    """Index these contents, 256 at a time, leaving out those whose text is None, then merge
    the index; returns how many were indexed."""
    ids = list(content_ids)
    indexed = 0
    for start in range(0, len(ids), 256):
        texts = [(i, t) for i in ids[start:start + 256] if (t := text(i)) is not None]
        index(db, texts)
        indexed += len(texts)
    optimize(db)
    return indexed


def recreate(db: Connection, content_ids: Iterable[int],
             text: Callable[[int], str | None]) -> int:
    """Drop the index, make it afresh and index these contents, leaving out those whose text
    is None (a backfill still asked for is then done too); returns how many were indexed.
    Dropping reads no segment of FTS5's, so it works where they are damaged ('delete-all' and
    `unindex` parse them); where FTS5 cannot even open its table (its structure or config
    record damaged or gone), those records are first reset to an empty index's. In the
    caller's transaction."""
    try:
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")
    except ArchiveError:  # "vtable constructor failed": the statement alone failed
        _reset_records(db)
        db.execute(f"DROP TABLE IF EXISTS {TABLE}")
    db.execute(schema.LEXICAL_TABLE_SQL)
    db.execute("DELETE FROM meta WHERE key = ?", (BACKFILL_KEY,))
    return _index_all(db, content_ids, text)


def _reset_records(db: Connection) -> None:
    """Give the index's shadow tables the rows of a new, empty index of the same definition
    (FTS5's own structure, averages and config records), so that FTS5 can open it again."""
    fresh = sqlite3.connect(":memory:")
    try:
        fresh.execute(schema.LEXICAL_TABLE_SQL)
        for shadow in ("data", "idx", "config"):
            name = f"{TABLE}_{shadow}"
            found = fresh.execute(f"SELECT * FROM {name}").fetchall()
            db.execute(f"DELETE FROM {name}")
            if found:
                db.executemany(f"INSERT INTO {name} VALUES "
                               f"({', '.join('?' * len(found[0]))})", found)
    finally:
        fresh.close()


# -- reading -------------------------------------------------------------------------------

# a query term ending in this is a prefix: a token that starts with the rest (a commit's
# abbreviated hash, `3f2ed9a`, is the start of the 40 digits a brief holds)
PREFIX_MARK = "*"


def match_expression(term: str) -> str:
    """The FTS5 query for one term: the token quoted, a prefix term as a prefix query."""
    prefix = term.endswith(PREFIX_MARK)
    token = term[:-1] if prefix else term
    return '"' + token.replace('"', '""') + '"' + ("*" if prefix else "")


def matching(db: Connection, term: str) -> npt.NDArray[np.int64]:
    """Content ids whose text holds `term` (one token, as the tokenizer sees it; a prefix
    term, a token starting with it), sorted."""
    import numpy as np

    rows = db.query(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ?",
                    (match_expression(term),))
    return np.sort(np.fromiter((r for (r,) in rows), np.int64, len(rows)))


def term_counts(texts: dict[int, str], terms: Iterable[str], split_cjk: bool = True
                ) -> dict[tuple[str, int], int]:
    """How often each of `terms` (index tokens, as a query gives them) occurs in each text
    (content id -> decoded text), counted as the index would count them: the index's own
    table definition, with full detail, over `indexed_text`, in memory (the index keeps no
    frequencies). A query term reaches the counts through its own stem (porter). A Chinese
    or Japanese letter or Korean syllable, which the index holds alone (`split_cjk`), is
    counted in the text directly: the same count, without tokenizing long texts (4x the
    time of a lexical search on the kernel docs' Chinese translations)."""
    asked = sorted(set(terms))
    out: dict[tuple[str, int], int] = {}
    if split_cjk:
        letters = [t for t in asked if len(t) == 1 and cjk.has_token_letter(t)]
        for letter in letters:
            for cid, text in texts.items():
                if count := text.count(letter):
                    out[letter, cid] = count
        asked = [t for t in asked if t not in letters]
    if not asked:
        return out
    conn = _in_memory_index()
    try:
        conn.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)",
                         ((cid, indexed_text(text, split_cjk)) for cid, text in texts.items()))
        for term, found in stems(asked).items():
            for stem in sorted(found):  # a query term is one token: one stem
                for cid, count in conn.execute("SELECT doc, COUNT(*) FROM vocab WHERE "
                                               "term = ? GROUP BY doc", (stem,)):
                    out[term, cid] = count
        return out
    finally:
        conn.close()


# words' tokens, kept between calls: a batch of queries asks for the same words again, and
# each call builds a table (a review: 27% of a 400-query batch's time went to snippets')
_STEMS: dict[str, frozenset[str]] = {}
_STEMS_KEPT = 200_000


def stems(words: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each word's tokens as the index holds them (porter stems, case and accents folded):
    `prices` and `price` share theirs. One in-memory table of the index's own definition,
    a row per word not seen before."""
    wanted = set(words)
    known = {word: _STEMS[word] for word in wanted if word in _STEMS}
    if missing := sorted(wanted - known.keys()):
        found: dict[str, set[str]] = {word: set() for word in missing}
        conn = _in_memory_index()
        try:
            conn.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)",
                             enumerate(missing))
            for stem, k in conn.execute("SELECT term, doc FROM vocab"):
                found[missing[k]].add(stem)
        finally:
            conn.close()
        fresh = {word: frozenset(tokens) for word, tokens in found.items()}
        if len(_STEMS) + len(fresh) > _STEMS_KEPT:
            _STEMS.clear()
        _STEMS.update(fresh)
        known.update(fresh)
    return known


def _in_memory_index() -> sqlite3.Connection:
    """An empty table of the index's own definition (tokenizer, stems) at full detail, in
    memory, and `vocab`, its tokens with where each occurs."""
    conn = sqlite3.connect(":memory:")
    conn.execute(schema.LEXICAL_TABLE_SQL.replace("detail=none", "detail=full"))
    conn.execute(f"CREATE VIRTUAL TABLE vocab USING fts5vocab({TABLE}, 'instance')")
    return conn


def sizes(db: Connection) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(content ids sorted, their sizes in bytes): BM25's document lengths. Read as two
    strings SQLite joins and numpy parses: 12 ms for 60,891 contents, against 70 ms as one
    Python tuple per row (a cold search pays it)."""
    import numpy as np

    (ids, sizes), = db.query("SELECT group_concat(id, ' '), group_concat(size, ' ') "
                             "FROM (SELECT id, size FROM contents ORDER BY id)")
    try:
        out = [np.fromstring(text or "", np.int64, sep=" ") for text in (ids, sizes)]
        if len(out[0]) == len(out[1]) and bool(np.all(out[0][1:] > out[0][:-1])):
            return out[0], out[1]
    except ValueError:  # a damaged cell: the slow path says which
        pass
    found = db.query("SELECT id, size FROM contents ORDER BY id")
    for row in found:
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in row):
            raise IntegrityError(f"{db.path}: the catalogue entry of stored item "
                                 f"{_shown(row[0])} is damaged (its id or size); run "
                                 f"`briefmin verify {db.path}`")
    table = np.array(found, np.int64).reshape(-1, 2)
    return table[:, 0].copy(), table[:, 1].copy()


def _shown(value: object) -> str:
    """A cell as a message shows it: a damaged one may be bytes of any length."""
    return str(value) if isinstance(value, int) else repr(value)[:40]


def index_bytes(db: Connection) -> int:
    """Bytes the index's own tables take (the FTS5 shadow tables)."""
    try:
        (n,), = db.query("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE ?",
                         (f"{TABLE}_%",))
    except ArchiveError:  # dbstat is a compile-time option of SQLite
        return 0
    return int(n)


class Scratch:
    """An index of the archive's own table definition, in memory, over any rows given as
    they are (no stop words removed): for measuring what variants of the index would cost
    and find (bench_search.py --index-study: per chunk instead of per brief, other
    tokenizers)."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", isolation_level=None)
        self._conn.execute(schema.LEXICAL_TABLE_SQL)

    def add(self, rows: Iterable[tuple[int, str]]) -> None:
        self._conn.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)", rows)

    def optimize(self) -> None:
        self._conn.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")

    def size(self) -> int:
        """Bytes of the index's pages, as `index_bytes` counts them in an archive."""
        (n,), = self._conn.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat "
                                   "WHERE name LIKE ?", (f"{TABLE}_%",))
        return int(n)

    def matching(self, term: str) -> npt.NDArray[np.int64]:
        """Row ids holding `term` (one token), sorted."""
        import numpy as np

        rows = self._conn.execute(f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH ?",
                                  (match_expression(term),)).fetchall()
        return np.sort(np.fromiter((r for (r,) in rows), np.int64, len(rows)))

    def close(self) -> None:
        self._conn.close()


# -- checking (verify) ---------------------------------------------------------------------

@dataclass
class Differences:
    """How the stored index differs from one rebuilt from the stored texts."""

    contents: set[int] = field(default_factory=set)  # whose entries differ
    records: list[str] = field(default_factory=list)  # which of _RECORDS differ
    btree: str = ""  # how the term b-tree (the idx table) disagrees with the leaf pages
    broken: str = ""  # FTS5's integrity check failed, or the index could not be read


# FTS5's tables behind a contentless index without column sizes (its whole stored state)
_SHADOWS = ("data", "idx", "config")
# what FTS5 keeps beside the entries, which no query of the entries reads back: compared
# with the rebuilt index's own
_RECORDS = {"counts": "SELECT block FROM {}_data WHERE id = 1",  # documents and tokens
            "settings": "SELECT k, v FROM {}_config ORDER BY k"}


class Rebuilt:
    """The lexical index built again, in memory, from the stored texts. The index is derived
    data: FTS5's shadow tables cannot carry row checksums, so `verify` compares their whole
    content (every (term, content) entry, through fts5vocab) with this copy instead."""

    def __init__(self, split_cjk: bool = True) -> None:
        self._split_cjk = split_cjk  # as the archive's format indexes (indexed_text)
        # opened as a URI, so that the archive is attached read-only by one too
        self._conn = sqlite3.connect("file::memory:", uri=True, isolation_level=None)
        self._conn.text_factory = bytes  # terms compared as stored, damaged UTF-8 and all
        self._conn.execute(schema.LEXICAL_TABLE_SQL)
        self._pending: list[tuple[int, str]] = []
        self.skipped: set[int] = set()  # contents whose text could not be read

    def add(self, content_id: int, text: str) -> None:
        self._pending.append((content_id, indexed_text(text, self._split_cjk)))
        if len(self._pending) >= 256:
            self._flush()

    def _flush(self) -> None:
        self._conn.executemany(f"INSERT INTO {TABLE}(rowid, text) VALUES (?, ?)",
                               self._pending)
        self._pending.clear()

    def compare(self, db: Connection) -> Differences:
        """Compare with the index stored in the archive `db`. Its shadow tables are copied
        into memory first (a few MB for 64k briefs): FTS5's integrity check is an INSERT,
        which a read-only archive would refuse. Copied through `db` itself, not an ATTACH:
        what is compared is the state `db`'s read transaction sees, as the texts were."""
        self._flush()
        found = Differences()
        conn = self._conn
        try:
            conn.execute(schema.LEXICAL_TABLE_SQL.replace(TABLE, "stored", 1))
            for shadow in _SHADOWS:
                conn.execute(f"DELETE FROM stored_{shadow}")
                width = len(conn.execute(f"SELECT * FROM stored_{shadow}").description)
                marks = ",".join("?" * width)
                # streamed: the index is not held in memory twice
                conn.executemany(f"INSERT INTO stored_{shadow} VALUES ({marks})",
                                 db.iterate(f"SELECT * FROM {TABLE}_{shadow}"))
            conn.execute("INSERT INTO stored(stored) VALUES ('integrity-check')")
            for name in (TABLE, "stored"):
                conn.execute(f"CREATE VIRTUAL TABLE temp.vocab_{name} "
                             f"USING fts5vocab(main, {name}, instance)")
            found.contents = _differing(conn)
            found.btree = _btree_mismatch(conn, "stored")
            for what, sql in _RECORDS.items():
                built, stored = (conn.execute(sql.format(name)).fetchall()
                                 for name in (TABLE, "stored"))
                if what == "counts":
                    built, stored = _totals(built), _totals(stored)
                # counts cover every text: they differ when some could not be read
                if built != stored and not (self.skipped and what == "counts"):
                    found.records.append(what)
        except (*SQLITE_ERRORS, ArchiveError) as exc:
            found.broken = " ".join(str(exc).split())
        finally:
            conn.close()
        found.contents -= self.skipped
        return found


def _totals(found: list[Any]) -> list[Any]:
    """The counts record as the numbers it holds (documents, then tokens per column), all
    zeros as none: FTS5 writes the record at its first insert, so an index that never held
    a row has an empty one, and one whose rows were all deleted (an `rm` of every brief)
    holds zeros; both mean the same. Left as stored when it does not parse."""
    if len(found) != 1 or not isinstance(found[0][0], bytes):
        return found
    block, values, at = found[0][0], [], 0
    try:
        while at < len(block):
            value, at = _varint(block, at)
            values.append(value)
    except IndexError:
        return found
    return values if any(values) else []


def _differing(conn: sqlite3.Connection) -> set[int]:
    """The content ids whose entries differ between the rebuilt index and the stored copy,
    as multisets. An entry is (term, content id, column, offset); at detail=none FTS5 keeps
    neither of the last two (fts5vocab shows NULL), so each index is read as its terms with
    their lists of content ids, grouped in SQL: 18,403 Debian descriptions have 549k entries
    but 30k terms, read in 0.4 s (1.6 s as one Python row per entry)."""
    built, stored = (dict(conn.execute(
        f"SELECT term, group_concat(doc, ' ') FROM temp.vocab_{name} GROUP BY term"))
        for name in (TABLE, "stored"))
    out: set[int] = set()
    for term in built.keys() | stored.keys():
        if built.get(term) != stored.get(term):
            ids = [Counter(str(index.get(term) or b"", "ascii").split())
                   for index in (built, stored)]
            out |= {int(i) for i in (ids[0] - ids[1]) + (ids[1] - ids[0])}
    return out


# FTS5's data rowids: segment id, doclist-index flag, height, page number (fts5_index.c)
_SEGMENT_SHIFT, _DLIDX_SHIFT, _HEIGHT_SHIFT = 37, 36, 31


def _btree_mismatch(conn: sqlite3.Connection, name: str) -> str:
    """Check the term b-tree (`{name}_idx`) against the leaf pages it points into, as FTS5
    writes it: one row per leaf page holding a term, keyed by the shortest prefix of the
    page's first term that sorts after the last term of the page before (empty for a
    segment's first page), flagged when the page has a doclist index. A longer prefix of
    that term is right too: the first term written by each step of an incremental merge is
    keyed whole, since the step does not know the term before it (fts5_index.c,
    fts5WriteAppendTerm; a million-brief archive has one every ~1,000 pages). FTS5's
    integrity check does not catch every change of these rows: a missing or moved row, or
    a key changed but still in order, only slows lookups down or makes them miss. Returns
    what is wrong, or ''."""
    try:
        expected, found = _btree_rows(conn, name)
    except IndexError:
        return "a leaf page cannot be parsed"
    wrong = sum(1 for where in expected.keys() | found.keys()
                if not _keyed_right(expected.get(where), found.get(where)))
    return f"{wrong} entries of its term b-tree are wrong" if wrong else ""


def _btree_rows(conn: sqlite3.Connection, name: str
                ) -> tuple[dict[tuple[int, int], tuple[bytes, bytes, bool]],
                           dict[tuple[int, int], tuple[bytes, bool]]]:
    """Per leaf page (segment, page): what its b-tree row should be (shortest key, the
    page's first term, flag) and what it is (key, flag). IndexError: a page that does not
    parse."""
    pages: dict[tuple[int, int], bytes] = {}
    dlidx: set[tuple[int, int]] = set()
    for rowid, block in conn.execute(f"SELECT id, block FROM {name}_data WHERE id >= ?",
                                     (1 << _SEGMENT_SHIFT,)):
        where = (rowid >> _SEGMENT_SHIFT, rowid & ((1 << _HEIGHT_SHIFT) - 1))
        if rowid >> _DLIDX_SHIFT & 1:
            dlidx.add(where)
        elif not rowid >> _HEIGHT_SHIFT & 0x1F:
            pages[where] = bytes(block)
    first_page = {}
    for segment, page in sorted(pages, reverse=True):
        first_page[segment] = page
    # (shortest key, the page's first term, has a doclist index) per leaf page
    expected: dict[tuple[int, int], tuple[bytes, bytes, bool]] = {}
    trimmed: dict[tuple[int, int], bytes] = {}  # first pages of half-merged segments
    previous: tuple[int, bytes] = (0, b"")  # (segment, last term so far)
    for segment, page in sorted(pages):
        terms = _page_terms(pages[segment, page])
        if terms and page == first_page[segment] > 1:
            # an incremental merge took the pages before it out of the segment and
            # rewrote this one from where it had got to: its key is the old page's
            # (anything up to its first term now), or none when the old page started
            # no term
            trimmed[segment, page] = terms[0]
        elif terms:
            last = previous[1] if previous[0] == segment else b""
            opening = b"" if page == 1 else terms[0]
            expected[segment, page] = (opening[:_common(last, opening) + 1], opening,
                                       (segment, page) in dlidx)
        if terms:
            previous = (segment, terms[-1])
    found: dict[tuple[int, int], tuple[bytes, bool]] = {}
    for segment, term, pgno in conn.execute(f"SELECT segid, term, pgno FROM {name}_idx"):
        page = int(pgno) >> 1
        if page < first_page.get(segment, 0):
            continue  # a page an incremental merge has already taken out of its segment
        entry = (bytes(term), bool(int(pgno) & 1))
        first = trimmed.get((int(segment), page))
        if first is None or entry[0] > first:
            found[int(segment), page] = entry
    return expected, found


def _keyed_right(expected: tuple[bytes, bytes, bool] | None,
                 found: tuple[bytes, bool] | None) -> bool:
    """Whether a leaf page's b-tree row is one FTS5 writes for it: its flag, and a prefix of
    the page's first term at least as long as the shortest key that sorts after the page
    before."""
    if expected is None or found is None:
        return False
    shortest, first, flagged = expected
    key, flag = found
    return flag == flagged and len(key) >= len(shortest) and first.startswith(key)


def _page_terms(page: bytes) -> list[bytes]:
    """The terms that start on a leaf page, in order (prefix-compressed after the first)."""
    end = int.from_bytes(page[2:4], "big")  # the footer: a varint offset per term
    offsets, at, position = [], end, 0
    while at < len(page):
        delta, at = _varint(page, at)
        position += delta
        offsets.append(position)
    terms: list[bytes] = []
    for offset in offsets:
        if terms:
            shared, offset = _varint(page, offset)
        else:
            shared = 0
        size, offset = _varint(page, offset)
        if offset + size > end:
            raise IndexError("term beyond the page")
        terms.append(terms[-1][:shared] + page[offset:offset + size] if terms
                     else page[offset:offset + size])
    return terms


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's big-endian varint at `at`: (value, offset after it)."""
    value = 0
    for k in range(9):
        byte = data[at]
        at += 1
        if k == 8:
            return value << 8 | byte, at
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            break
    return value, at


def _common(a: bytes, b: bytes) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n
