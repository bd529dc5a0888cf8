"""`verify`: check every stored byte and say what is damaged and which briefs it affects.

SQLite's own integrity check finds broken pages and indexes; the row checksums of format 4
(rows.py) find any changed value in any table; the table definitions are checked against the
digest written when the archive was made or migrated; every brief is inflated and compared
with its sha256; vector rows are counted against their contents; the lexical index, whose
FTS5 tables cannot carry checksums, is compared with one rebuilt from the inflated texts
(lexical.Rebuilt). Nothing here raises for
damage: each finding becomes a Problem, so one run reports them all."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import UNCHECKABLE, VERIFY_ADVICE, BriefminError, IntegrityError
from ..text import decode_text
from . import lexical, rows, schema, segments
from . import snapshots as snaps
from .blocks import Blocks
from .connection import Connection


@dataclass(frozen=True)
class Problem:
    """Something `verify` found wrong; `paths` are the briefs it damages (may be empty)."""

    message: str
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "paths": list(self.paths)}


@dataclass
class VerifyReport:
    problems: list[Problem]
    checked: int  # stored items decompressed and hashed
    orphaned_items: int
    reclaimable_bytes: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked,
                "problems": [p.to_json() for p in self.problems],
                "orphaned_items": self.orphaned_items,
                "reclaimable_bytes": self.reclaimable_bytes}


_EVERY_BRIEF = ("(every brief)",)
# the index is derived data: what to do about it, whatever else is damaged
REBUILD_INDEX = "`briefmin verify --rebuild-index` builds it again from the stored texts"


class _Verifier:
    def __init__(self, db: Connection, blocks: Blocks) -> None:
        self.db, self.blocks = db, blocks
        self.problems: list[Problem] = []
        # each problem once, with its place: two checks may find one damage (a contents row)
        self._found: dict[Problem, int] = {}
        self.owners: dict[int, list[str]] = {}  # content id -> names of the briefs holding it
        self.names: dict[Any, str] = {}  # brief row id -> its name in problems
        # contents whose bytes do not read back intact -> the index of that problem
        self.unreadable: dict[int, int] = {}
        self.later: list[tuple[str, list[int]]] = []  # damaged blocks and dictionaries
        self.time_users: dict[Any, list[str]] = {}  # briefs.added -> names of its briefs

    def add(self, message: str, contents: Iterator[int] | list[int] | tuple[str, ...] = ()
            ) -> int:
        """Record a problem (once); returns its index in `problems`. An error's advice to
        run verify is left out: this is verify."""
        message = message.removesuffix(VERIFY_ADVICE)
        paths = contents if isinstance(contents, tuple) else tuple(sorted(
            {p for c in contents for p in self.owners.get(int(c), ())}))
        problem = Problem(message, paths)
        if problem not in self._found:
            self._found[problem] = len(self.problems)
            self.problems.append(problem)
        return self._found[problem]

    def guarded(self, what: str, check: Callable[[], None]) -> None:
        """Run one check; if the archive cannot even be read for it, that is the finding."""
        try:
            check()
        except BriefminError as exc:
            self.add(f"{what} cannot be read ({str(exc).removesuffix(VERIFY_ADVICE)})")

    # -- the rows, value by value --------------------------------------------------------

    def table(self, table: str) -> Iterator[tuple[Any, ...]]:
        """Every row of `table` as (its values..., checksum), each value exactly as stored:
        text that is not UTF-8 comes back with its bytes as escapes (and fails its checksum)
        instead of stopping the read."""
        columns = (*rows.COLUMNS[table], "checksum")
        cells = ", ".join(f"typeof({c}), CAST({c} AS BLOB)" for c in columns)
        for raw in self.db.iterate(f"SELECT {cells} FROM main.{table}"):
            yield tuple(_value(raw[i], raw[i + 1]) for i in range(0, len(raw), 2))

    def checksums(self) -> None:
        self.guarded("the table definitions", self.schema)
        self.guarded("the metadata", self.meta)
        self.guarded("the briefs table", self.briefs)  # first: it names the damaged briefs
        if self.db.version >= schema.COMPACT:
            self.guarded("the times table", self.times)
        damaged_dicts: list[int] = []
        self.guarded("the dictionaries", lambda: self.dicts(damaged_dicts))
        damaged_blocks: list[int] = []
        self.guarded("the blocks", lambda: self.blocks_(damaged_blocks))
        self.guarded("the contents table", lambda: self.contents(damaged_dicts, damaged_blocks))
        self.guarded("the vector segments", self.segments)
        self.guarded("the snapshots", self.snapshots)
        if self.db.version >= schema.MERGED_PRE_SNAPSHOT:
            self.guarded("the marks of merged versions", self.merged_pre_snapshot)

    def schema(self) -> None:
        (stored,), = self.db.query("SELECT value FROM main.meta WHERE key = 'schema'") or [
            (None,)]
        if stored is None or json.loads(stored) != schema.schema_digest(
                self.db.query(schema.SCHEMA_SQL)):
            self.add("the archive's table definitions were altered", _EVERY_BRIEF)

    def meta(self) -> None:
        for *values, checksum in self.table("meta"):
            if checksum != rows.row_sum("meta", values):
                self.add(f"metadata entry {_show(values[0])} is damaged (checksum)",
                         _EVERY_BRIEF)
            elif values[0] == schema.PRE_SNAPSHOT_TOP and \
                    schema.pre_snapshot_top_value(values[1]) is None:
                self.add(f"metadata entry {schema.PRE_SNAPSHOT_TOP} holds no count "
                         f"({_show(values[1])}): prune refuses to run, since it cannot tell which "
                         "versions predate the snapshots")

    def briefs(self) -> None:
        found = list(self.table("briefs"))
        names = self.name_owners([(v[1], v[2], v[3]) for v in found])
        self.names = {values[0]: name for (*values, _), name in zip(found, names, strict=True)}
        for (*values, _), name in zip(found, names, strict=True):
            self.time_users.setdefault(values[4], []).append(name)
        for (*values, checksum), name in zip(found, names, strict=True):
            if checksum != rows.row_sum("briefs", values):
                self.add(f"the catalogue row {values[0]} of brief {name} is damaged "
                         "(checksum)", (name,))
            elif values[5] != 0 and values[5] != rows.path_key(values[1]):  # 0: format 8
                self.add(f"the catalogue row {values[0]} of brief {name} has a wrong path key",
                         (name,))

    def times(self) -> None:
        """Each row of `times` intact, and each brief's time there (format 8)."""
        users = dict(self.time_users)
        for *values, checksum in self.table("times"):
            names = tuple(users.pop(values[0], ()))
            if checksum != rows.row_sum("times", values):
                self.add(f"the time {_show(values[0])} the catalogue gives "
                         f"{len(names)} brief(s) is damaged (checksum)", names)
        for time_id, names in users.items():
            self.add(f"the time {_show(time_id)} of {len(names)} brief(s) is missing",
                     tuple(names))

    def briefs_of_old_format(self) -> None:
        self.name_owners(self.db.query("SELECT path, version, content FROM briefs"))

    def name_owners(self, found: list[tuple[Any, Any, Any]]) -> list[str]:
        """Name each (path, version, content) as problems do (path, or path@version when the
        path has several), and note which briefs hold each content."""
        counts: dict[Any, int] = {}
        for path, _, _ in found:
            counts[path] = counts.get(path, 0) + 1
        names = []
        for path, version, content in found:
            text = path.decode("utf-8", "replace") if isinstance(path, bytes) else str(path)
            name = f"{text}@{version}" if counts[path] > 1 else text
            names.append(name)
            if isinstance(content, int):
                self.owners.setdefault(content, []).append(name)
        return names

    def dicts(self, damaged: list[int]) -> None:
        for *values, checksum in self.table("dicts"):
            if checksum != rows.row_sum("dicts", values):
                damaged.append(values[0])

    def blocks_(self, damaged: list[int]) -> None:
        for *values, checksum in self.table("blocks"):
            if checksum != rows.row_sum("blocks", values):
                damaged.append(values[0])

    def contents(self, damaged_dicts: list[int], damaged_blocks: list[int]) -> None:
        in_block: dict[Any, list[int]] = {b: [] for b in damaged_blocks}
        named = set(self.owners)  # the content ids brief rows name
        for *values, checksum in self.table("contents"):
            content_id, block = values[0], values[3]
            named.discard(content_id)
            if block in in_block:
                in_block[block].append(content_id)
            if checksum != rows.row_sum("contents", values):
                self.add(f"the catalogue entry of stored item {content_id} is damaged "
                         "(checksum)", [content_id] if isinstance(content_id, int) else [])
        for content_id in sorted(named):  # its row lost: `ls` and `restore` name the brief
            self.add(f"stored item {content_id} is missing from the catalogue",
                     [content_id])
        # named once the bytes are checked: a damaged block still holds intact briefs
        self.later.extend((f"solid block {_show(block)} is damaged (checksum)", members)
                          for block, members in in_block.items())
        for dict_id in damaged_dicts:
            users = [b for (b,) in self.db.query("SELECT id FROM main.blocks WHERE dict_id = ?",
                                                 (dict_id,))]
            members = [c for b in users for (c,) in self.db.query(
                "SELECT id FROM main.contents WHERE block = ?", (b,))]
            self.later.append((f"dictionary {_show(dict_id)} is damaged (checksum)", members))

    def finish(self) -> None:
        """Name the briefs of damaged blocks and dictionaries: those that no longer read back
        intact (the others are still restorable byte-exact)."""
        # one finding per damage: the block's, not also each of its briefs' sha256
        hurt = [[c for c in members if c in self.unreadable] for _, members in self.later]
        folded = {self.unreadable[c] for members in hurt for c in members}
        self.problems = [p for k, p in enumerate(self.problems) if k not in folded]
        self._found = {p: k for k, p in enumerate(self.problems)}
        for (message, _), members in zip(self.later, hurt, strict=True):
            self.add(message + (f"; {len(members)} stored item(s) in it no longer read back "
                                "intact" if members else "; every brief in it still reads "
                                "back intact"), members)

    def segments(self) -> None:
        for *values, checksum in self.table("vec_segments"):
            if checksum != rows.row_sum("vec_segments", values):
                import numpy as np  # only for a damaged segment: verify starts without numpy

                ids = values[2] if isinstance(values[2], bytes) else b""
                held = np.unique(np.frombuffer(ids[:len(ids) // 8 * 8], np.int64)).tolist()
                self.add(f"vector segment {_show(values[0])} is damaged (checksum): search "
                         "and dedupe may read wrong meanings for its briefs", held)
        if self.db.version < schema.TIERED:
            return
        for *values, checksum in self.table("vec_codes"):
            if checksum != rows.row_sum("vec_codes", values):
                self.add(f"the code tier of vector segment {_show(values[0])} is damaged "
                         "(checksum): search and dedupe may misread its codes")

    def lexical(self, found: lexical.Differences) -> None:
        if found.broken:
            self.add(f"the lexical index is damaged ({found.broken}): lexical and hybrid "
                     f"search may miss or misplace any brief; {REBUILD_INDEX}", _EVERY_BRIEF)
        if found.contents:
            self.add(f"the lexical index is damaged: the entries of {len(found.contents)} "
                     "stored item(s) differ from their text (lexical and hybrid search may "
                     f"miss them or find them for words they lack); {REBUILD_INDEX}",
                     sorted(found.contents))
        if found.btree:
            self.add(f"the lexical index is damaged ({found.btree}): lexical and hybrid "
                     f"search may miss briefs; {REBUILD_INDEX}", _EVERY_BRIEF)
        for what in found.records:
            self.add(f"the lexical index is damaged: its {what} record differs from one "
                     f"rebuilt from the stored texts; {REBUILD_INDEX}")

    def length(self, page_size: int) -> None:
        """Bytes past the last page: SQLite never reads them, so nothing else would see them.
        Only in the rollback journal (the default), whose file ends at its last page while a
        read lasts; a WAL file's size lags or leads its checkpoints. Whole pages are SQLite's
        own: a commit that shrank the file (`add`'s incremental vacuum) truncates it only
        after its journal is gone, so a kill between the two leaves the old tail, committed
        and never read (the kill test met it once in a few hundred kills)."""
        if self.db.wal:
            return
        (pages,), = self.db.query("PRAGMA page_count")
        extra = os.path.getsize(self.db.path) - int(pages) * page_size
        if extra > 0 and extra % page_size:
            self.add(f"{extra} byte(s) after the archive's last page are no part of it "
                     "(something appended them to the file); no brief is affected")

    def snapshots(self) -> None:
        """Snapshot rows and spans (format 5; absent from an older archive read as it is),
        and spans that name brief versions no longer stored."""
        if not snaps.present(self.db):
            return
        damaged_rows = False
        for *values, checksum in self.table("snapshots"):
            if checksum != rows.row_sum("snapshots", values):
                damaged_rows = True
                self.add(f"snapshot {_show(values[0])} is damaged (checksum): what it holds "
                         "and when it was taken may be wrong")
        dangling = 0
        damaged_chains = set()
        for *values, checksum in self.table("snapshot_spans"):
            name = self.names.get(values[1])
            if checksum != rows.row_sum("snapshot_spans", values):
                damaged_chains.add(values[0])
                self.add(f"an entry of the snapshots of chain {_show(values[0])} is damaged "
                         "(checksum): they may hold a wrong version of "
                         f"{name or 'a brief'}", (name,) if name else ())
            elif name is None:
                dangling += 1
                damaged_chains.add(values[0])
        if dangling:
            self.add(f"{dangling} snapshot entries name brief versions that are missing")
        self.ledger(damaged_rows)
        for snapshot_id, listed, held in snaps.miscounted(self.db, damaged_chains):
            self.add(f"snapshot {snapshot_id} lists {listed} file(s) but its entries hold "
                     f"{held}: entries of it are lost, so prune refuses to run; `forget` it "
                     "to prune again")

    def ledger(self, damaged_rows: bool) -> None:
        """The ledger of the snapshots that exist against the rows (format 11): a deleted
        row leaves no checksum to fail. With `damaged_rows` (a snapshot row fails its
        checksum) a damaged id looks like one snapshot deleted and another added: said."""
        if self.db.version < schema.LEDGERED:
            return
        found = snaps.read_ledger(self.db)
        if isinstance(found, str):
            self.add(f"{snaps.ledger_lost(found)}: the commands that record, forget or "
                     "choose snapshots refuse to run; `briefmin verify --forget-missing` "
                     "writes it again from the snapshots stored")
            return
        missing, unlisted = snaps.compare_ledger(self.db, found)
        maybe = " (or a damaged snapshot row's id changed)" if damaged_rows else ""
        if missing:
            self.add(f"{snaps.deleted_outside(missing)}{maybe}: versions no other snapshot "
                     "holds look held by none, so prune, tier, merge and the choice of the "
                     "latest snapshot or one by date refuse to run; restore the archive from "
                     "a backup, or accept the loss with `briefmin verify --forget-missing`")
        if unlisted:
            self.add(f"the ledger of the snapshots does not list snapshot(s) "
                     f"{snaps.shown_ids(unlisted)} "
                     f"(rows added outside briefmin?{maybe}): `forget` what you did not "
                     "take; `briefmin verify --forget-missing` lists them")

    def merged_pre_snapshot(self) -> None:
        """The marks of versions merged from before an input's snapshots, which prune keeps
        (schema.PRE_SNAPSHOT_VERSIONS_SQL)."""
        dangling = 0
        for *values, checksum in self.table("pre_snapshot_versions"):
            name = self.names.get(values[0])
            if checksum != rows.row_sum("pre_snapshot_versions", values):
                self.add("a mark of a version merged from before an input's snapshots is "
                         "damaged (checksum): prune may delete "
                         f"{f'a version of {name}' if name else 'a version'} it should keep",
                         (name,) if name else ())
            elif name is None:
                dangling += 1
        if dangling:
            self.add(f"{dangling} marks of versions merged from before an input's snapshots "
                     "name versions that are missing")

    # -- the bytes and the vectors -------------------------------------------------------

    def contents_and_vectors(self) -> tuple[int, int]:
        """(stored items inflated and hashed, items no brief holds)."""
        dicts = self.blocks.dictionaries()
        checked = 0
        expected: dict[int, int] = {}
        # the lexical index is rebuilt from the texts inflated here (see lexical.Rebuilt)
        rebuilt = (lexical.Rebuilt(split_cjk=lexical.splits_cjk(self.db))
                   if lexical.complete(self.db) else None)
        for content_id, n_vectors in self.db.query("SELECT id, vectors FROM contents"):
            if not isinstance(n_vectors, int) or not isinstance(content_id, int):
                self.add(f"stored item {content_id} has a damaged vector count",
                         [content_id] if isinstance(content_id, int) else [])
                if not isinstance(content_id, int):
                    continue
                n_vectors = -1  # never matches: the vector check names it too
            expected[content_id] = n_vectors
            try:
                data = self.blocks.read_content(content_id, dicts)
                if rebuilt is not None:
                    rebuilt.add(content_id, decode_text(data)[0])
            except IntegrityError as exc:
                self.unreadable[content_id] = self.add(str(exc), [content_id])
                if rebuilt is not None:
                    rebuilt.skipped.add(content_id)
            checked += 1
        if rebuilt is not None:
            self.lexical(rebuilt.compare(self.db))
        found, damaged = segments.count_rows(self.db, schema.read_meta(self.db))
        for message in damaged:
            self.add(message)
        for cid in sorted(set(expected) | set(found)):
            if expected.get(cid) != found.get(cid, 0):
                self.add(f"vector count mismatch: {found.get(cid, 0)} stored, "
                         f"{expected.get(cid, 0)} expected", [cid])
        return checked, len(set(expected) - set(self.owners))


def row_problems(db: Connection, blocks: Blocks) -> list[Problem]:
    """The row checksums alone (nothing inflated, no lexical rebuild): what a merge checks of
    each input before it copies rows under OUT's own checksums, which would vouch for them."""
    check = _Verifier(db, blocks)
    if db.checksummed:
        check.checksums()
        for message, members in check.later:  # damaged blocks, dictionaries: their briefs
            check.add(message, members)
    return check.problems


def verify(db: Connection, blocks: Blocks) -> VerifyReport:
    """Check everything; return the problems instead of raising, so all are reported."""
    check = _Verifier(db, blocks)
    try:
        integrity = [r[0] for r in db.query("PRAGMA integrity_check")]
    except BriefminError as exc:  # damaged pages: nothing more can be read
        why = str(exc).removesuffix(VERIFY_ADVICE)
        return VerifyReport([Problem(f"{why}; {UNCHECKABLE}")], 0, 0, 0)
    if integrity != ["ok"]:
        check.problems.extend(Problem(f"SQLite integrity: {line}") for line in integrity[:20])
    if db.checksummed:
        check.checksums()
    else:
        check.guarded("the briefs table", check.briefs_of_old_format)
    checked = orphaned = 0

    def bytes_and_vectors() -> None:
        nonlocal checked, orphaned
        checked, orphaned = check.contents_and_vectors()
        orphaned += blocks.orphaned()

    check.guarded("the stored items", bytes_and_vectors)
    check.finish()
    (free_pages,), = db.query("PRAGMA freelist_count")
    (page_size,), = db.query("PRAGMA page_size")
    check.guarded("the file's length", lambda: check.length(int(page_size)))
    return VerifyReport(check.problems, checked, orphaned, int(free_pages) * int(page_size))


def _value(kind: str, raw: bytes | None) -> Any:
    """A cell's value from its SQLite type and its bytes (see _Verifier.table)."""
    if kind == "null" or raw is None:
        return None
    if kind == "integer":
        return int(raw)
    if kind == "real":
        return float(raw)
    if kind == "text":
        # always a str, so that a blob's bytes turned text fail its checksum (a str sums as
        # text, not as the blob's bytes); text that is not UTF-8 keeps its bytes as escapes
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return raw.decode("utf-8", "surrogateescape")
    return bytes(raw)


def _show(value: Any) -> str:
    return repr(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
