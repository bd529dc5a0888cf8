"""The catalogue: `briefs` (one row per path and version) and `contents` (one row per distinct
sha256), the records built from them, and the one selector grammar every command uses."""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from ..errors import InputError, IntegrityError
from . import rows
from .connection import Connection, check_cells
from .schema import ENCODINGS

_T = TypeVar("_T")


@dataclass(frozen=True)
class BriefRecord:
    """One stored (path, version)."""

    path: str
    version: int
    versions: int  # how many versions the path has
    sha256: str
    size: int
    stored_size: int
    added_at: str
    encoding: str
    content_id: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "versions": self.versions,
                "sha256": self.sha256, "size": self.size, "stored_size": self.stored_size,
                "added_at": self.added_at, "encoding": self.encoding}


_RECORD_SQL = """
    -- the sha256 as a blob even when its cell's type is damaged: the rest of the catalogue
    -- still lists, and restore refuses the item (its row is typed wrong: Blocks.locate)
    SELECT b.path, b.version, CAST(c.sha256 AS BLOB), c.size,
           -- a brief in a solid block is charged its share of the block's frame
           CASE WHEN c.block IS NULL THEN LENGTH(c.frame)
                ELSE c.size * LENGTH(bl.data) / MAX(bl.size, 1) END,
           t.time, c.encoding, b.content
    -- briefs first (a LEFT JOIN reads its left table first): the catalogue has no index by
    -- content (format 8; see schema.py). LEFT: a brief whose content row is lost still
    -- comes, with NULL content cells, so `records` does not skip it in silence (`_record`)
    FROM briefs b LEFT JOIN contents c ON c.id = b.content
    LEFT JOIN blocks bl ON bl.id = c.block
    LEFT JOIN times t ON t.id = b.added
"""
_RECORD_ORDER = " ORDER BY b.path, b.version"

# values bound per statement that scans a table (a scan each, so many; SQLite allows 32,766)
SCAN_PARAMETERS = 5000

_HEX = re.compile(r"[0-9a-f]{4,64}|[0-9A-F]{4,64}")  # (as `sha256sum` or a Windows tool prints)

class MissingContent(IntegrityError):
    """Chosen briefs whose catalogue row points at a stored content that is not there (its
    `contents` row is lost): `paths` names them, `others` holds the other chosen records, so
    a restore can write those before it reports these."""

    def __init__(self, message: str, paths: list[str], others: list[BriefRecord]) -> None:
        super().__init__(message)
        self.paths = paths
        self.others = others


class LiteralSelector(str):
    """A selector taken as an archived path or folder only, never as a glob or a sha256
    prefix (`--literal`): a script's names holding * ? [ or hex cannot take other briefs,
    even once their own are gone (a retried `rm 'Draft [1].md'` took `Draft 1.md`)."""

    __slots__ = ()


def selects(selector: str, path: str, sha256: str) -> bool:
    """The selector grammar: an exact path, a folder prefix, a glob, or a sha256 prefix
    (≥ 4 hex digits; a LiteralSelector the first two only). (A selector that is an
    archived path or folder is taken as that only: `_selected`.)"""
    folder = selector.rstrip("/") + "/"
    if selector == path or path.startswith(folder):
        return True
    if isinstance(selector, LiteralSelector):
        return False
    if any(ch in selector for ch in "*?[") and fnmatch.fnmatchcase(path, selector):
        return True
    return bool(_HEX.fullmatch(selector)) and sha256.startswith(selector.lower())


def _named(selector: str, paths: Sequence[str]) -> list[int]:
    """Where, in `paths` (sorted), the path the selector names lies, or the paths of the
    folder it names: by bisecting, so restoring 1,000 named briefs of a million does not
    test every pair (it took 631 s)."""
    folder = selector.rstrip("/") + "/"
    exact = range(bisect.bisect_left(paths, selector), bisect.bisect_right(paths, selector))
    inside = range(bisect.bisect_left(paths, folder),
                   bisect.bisect_left(paths, folder[:-1] + chr(ord("/") + 1)))
    return [*exact, *inside]  # (not one range: `a b` sorts between `a` and `a/`)


def _selected(selector: str, paths: Sequence[str], digests: Sequence[str],
              archived: Sequence[str], one_content: bool = False) -> list[int]:
    """Where, in `paths` (sorted; `digests` the sha256 in hex beside them), the briefs lie
    that `selects` takes; only globs and sha256 prefixes scan every brief. An archived name
    or folder (in `archived`, every path of any version, sorted) takes itself only:
    `Draft [1].md` must not restore or remove `Draft 1.md` as well, nor a path or a folder
    that looks like hex (`2024/`) the briefs of that checksum; at a version or in a snapshot
    that lacks it too, where it takes nothing (`rm --version 2` removed another brief).
    `one_content`: a sha256 prefix that starts two contents' sha256 is an error (as git
    refuses an ambiguous short hash), not both."""
    hit = set(_named(selector, paths))
    if not hit and not isinstance(selector, LiteralSelector) and \
            not _named(selector, archived) and (
            any(ch in selector for ch in "*?[") or _HEX.fullmatch(selector)):
        hit.update(k for k, path in enumerate(paths) if selects(selector, path, digests[k]))
        if one_content and _HEX.fullmatch(selector) and len(
                contents := {digests[k] for k in hit}) > 1:
            raise InputError(f"{selector!r} starts the sha256 of {len(contents)} different "
                             "briefs; give more of its digits (`briefmin ls ARCHIVE` shows "
                             "12), or their paths")
    return sorted(hit)


def _chosen(selectors: Sequence[str], paths: Sequence[str], digests: Sequence[str],
            version: int | None, archived: Sequence[str], one_content: bool = False,
            missing_ok: bool = False) -> list[int]:
    """Where, in `paths` (sorted), the briefs lie that any of the selectors takes; a selector
    that takes none is an error (the records and the rows of a restore both choose here),
    unless `missing_ok`. `archived`: every archived path, of any version (sorted; see
    `_selected`, and for `one_content`)."""
    chosen: set[int] = set()
    for selector in selectors:
        matched = _selected(selector, paths, digests, archived, one_content)
        if not matched and not missing_ok:
            which = f" at version {version}" if version is not None else ""
            raise InputError(f"no brief matches {selector!r}{which}; "
                             "see `briefmin ls ARCHIVE`")
        chosen.update(matched)
    return sorted(chosen)


def records(db: Connection, selectors: Sequence[str] = (), *, version: int | None = None,
            all_versions: bool = False, within: Set[tuple[str, int]] | None = None,
            lost: bool = False, one_content: bool = False, missing_ok: bool = False
            ) -> list[BriefRecord]:
    """Briefs matching the selectors (see `selects`); no selector = every brief. Latest
    versions unless `version` or `all_versions`; only the (path, version) pairs `within` holds
    when it is given (a snapshot's). A chosen brief whose content row is lost raises
    MissingContent (a row with a damaged cell IntegrityError); with `lost`, it comes as a
    record with an empty sha256 and size 0 instead (for `rm`, which needs its path and
    version only). `one_content`: an ambiguous sha256 prefix is an error (`_selected`);
    `missing_ok`: a selector that takes no brief is not."""
    # lenient: a path cell that is not UTF-8 is one damaged row, not a failed listing
    found = db.query(_RECORD_SQL + _RECORD_ORDER, lenient=True)
    latest: dict[str, int] = {}
    for row in found:  # rows come by path and version: the last of a path is its latest
        latest[row[0]] = row[1]
    counts = Counter(row[0] for row in found)
    archived = sorted(path for path in counts if isinstance(path, str)) if selectors else []
    times: dict[int, str] = {}  # the briefs of one add share a few seconds: format each once
    rows = _kept_versions([_record(db, r, counts, times) for r in found],
                          lambda r: (r.path, r.version), latest, version=version,
                          all_versions=all_versions, within=within)
    if selectors:
        # rows come by path and version, and the sort is stable: so come the chosen
        by_path = sorted(rows, key=lambda r: r.path)
        rows = [by_path[k] for k in _chosen(selectors, [r.path for r in by_path],
                                            [r.sha256 for r in by_path], version, archived,
                                            one_content, missing_ok)]
    missing = [] if lost else [r.path for r in rows if is_lost(r)]
    if missing:
        others = f" (and {len(missing) - 1} other brief(s))" if len(missing) > 1 else ""
        raise MissingContent(f"{db.path}: the catalogue row of {missing[0]!r}{others} points "
                             "at a stored content that is missing; run `briefmin verify`",
                             missing, [r for r in rows if not is_lost(r)])
    return rows


def is_lost(record: BriefRecord) -> bool:
    """Whether this record's brief row points at a `contents` row that is not there (see
    `_record`): its sha256 is empty."""
    return not record.sha256


def _kept_versions(items: list[_T], key: Callable[[_T], tuple[str, int]],
                   latest: Mapping[str, int] | None, *, version: int | None,
                   all_versions: bool = False, within: Set[tuple[str, int]] | None = None
                   ) -> list[_T]:
    """The items (briefs, each `key` giving its path and version) `records` keeps: those
    `within` holds when given (a snapshot's), else those of `version`, else all of them with
    `all_versions`, else each path's latest (`latest`: its number by path; None when every
    path has one version)."""
    if within is not None:  # snapshots (issue 16): every version the snapshot holds
        return [x for x in items if key(x) in within]
    if version is not None:
        return [x for x in items if key(x)[1] == version]
    if all_versions or latest is None:
        return items
    return [x for x in items if latest[key(x)[0]] == key(x)[1]]


# a brief row's cells in the order its checksum covers them, then the checksum
_BRIEF_ROW = ", ".join(f"b.{column}" for column in rows.COLUMNS["briefs"]) + ", b.checksum"
_BRIEF_ROW_AT = 8  # where `_PLACED_SQL` rows hold them

# What a restore needs of each brief, its content's place included, in block order: see
# `placed`. `typed` as in Blocks.locate, but NULL where the cells `_record` checks (bar the
# time and the stored size, which a restore does not use) do not hold what they should; one
# cell for both, each type tested once (a cell per row costs ~0.15 us more)
_PLACED_SQL = f"""
    SELECT c.id, c.sha256, c.size, c.block, c.block_offset,
           CASE WHEN typeof(b.path) = 'text' AND typeof(b.version) = 'integer'
                     AND typeof(c.sha256) = 'blob' AND LENGTH(c.sha256) = 32
                     AND typeof(c.size) = 'integer' AND typeof(c.encoding) = 'integer'
                     AND c.encoding BETWEEN 0 AND {len(ENCODINGS) - 1}
                THEN typeof(c.block) = 'integer' AND typeof(c.block_offset) = 'integer' END,
           b.path, b.version, {_BRIEF_ROW}
    -- LEFT: a lost content row gives NULL cells, so `typed` is NULL (see _RECORD_SQL)
    FROM briefs b LEFT JOIN contents c ON c.id = b.content
    ORDER BY c.block, c.block_offset
"""
# one side of a cut (see `halves`): the upper side (1) holds the blocks from the cut on, the
# lower (0) those before it and the contents in no block (NULL compares to nothing)
_PLACED_HALF_SQL = _PLACED_SQL.replace("ORDER BY", "WHERE coalesce(c.block >= ?, 0) = ?\n"
                                       "    ORDER BY")


class Halves(NamedTuple):
    """The catalogue cut in two by block, for a restore in two processes that each read only
    their own half (`placed(half=...)`): the upper half holds the blocks from `cut` on, the
    lower the others. `latest`: the latest version of every path that has a version other
    than 1, read from the whole catalogue (every other path's latest is 1). (A NamedTuple:
    a frozen dataclass costs ~0.5 ms more at every import.)"""

    cut: int
    latest: dict[str, int]


def halves(db: Connection, upper_share: float, at_least: int) -> Halves | None:
    """Where to cut the catalogue so the upper half holds about `upper_share` of the blocks
    (by id: blocks hold about as many briefs each). None when one read of it all is better:
    fewer than `at_least` briefs, one block, a version that is not a whole number from 1
    (`placed` then works the latest out from every row, and `records` names the damage), or
    WAL mode (see Connection.reading)."""
    (count,), = db.query("SELECT COUNT(*) FROM briefs")
    if count < at_least or db.wal:
        return None
    (low, high), = db.query("SELECT MIN(id), MAX(id) FROM blocks")
    if not (isinstance(low, int) and isinstance(high, int)) or high <= low:
        return None
    cut = high + 1 - max(1, min(high - low, round((high - low + 1) * upper_share)))
    latest: dict[str, int] = {}
    for path, most, least in db.query("SELECT path, MAX(version), MIN(version) FROM briefs "
                                      "WHERE version <> 1 GROUP BY path"):
        if not (isinstance(most, int) and isinstance(least, int)) or least < 1:
            return None
        latest[path] = most
    return Halves(cut, latest)


class _LatestOr1(dict[str, int]):
    """Halves.latest as `_kept_versions` looks it up: a path it does not hold is at 1."""

    def __missing__(self, path: str) -> int:
        return 1


def placed(db: Connection, selectors: Sequence[str] = (), *, version: int | None = None,
           within: Set[tuple[str, int]] | None = None, half: tuple[Halves, bool] | None = None
           ) -> list[Any] | None:
    """The briefs `records` chooses (the same arguments), as plain rows for a restore, from
    one query: (content id, sha256, size, block, offset, typed, path, version), in block
    order (`Blocks.read_located` reads their first six cells). No BriefRecord each: on 20,000
    briefs those were a third of a restore's CPU before it could start writing. None when a
    row is not sound (cells of the wrong type, a lost contents row, or a chosen brief's
    row failing its checksum): `records` and `Archive.restore` then say which brief is
    damaged. `half`: only those in the upper (True) or lower half of these Halves (no
    selectors then: one that matches in the other half only is no error)."""
    if half is not None and selectors:
        raise ValueError("placed: selectors choose from the whole catalogue, not a half")
    if half is None:
        found = db.query(_PLACED_SQL, lenient=True)
    else:
        found = db.query(_PLACED_HALF_SQL, (half[0].cut, int(half[1])), lenient=True)
    if any(row[5] is None for row in found):
        return None
    latest: dict[str, int] | None = None  # None: each path has one version
    if half is not None:
        latest = _LatestOr1(half[0].latest) if half[0].latest else None
    elif within is None and version is None and max((row[7] for row in found), default=1) > 1:
        latest = {}
        for row in found:
            if latest.setdefault(row[6], row[7]) < row[7]:
                latest[row[6]] = row[7]
    archived = sorted({row[6] for row in found if isinstance(row[6], str)}) if selectors \
        else []
    found = _kept_versions(found, lambda row: (row[6], row[7]), latest, version=version,
                           within=within)
    if selectors:
        by_path = sorted(range(len(found)), key=lambda k: found[k][6])
        chosen = _chosen(selectors, [found[k][6] for k in by_path],
                         [found[k][1].hex() for k in by_path], version, archived)
        found = [found[k] for k in sorted(by_path[k] for k in chosen)]  # block order again
    if db.checksummed and not all(_sound(row[_BRIEF_ROW_AT:]) for row in found):
        return None
    return found


def _sound(brief_row: Sequence[Any]) -> bool:
    """Whether a brief row (its cells, then its checksum) matches its checksum. The sha256
    check of a restored brief's bytes does not cover its row: a changed path would write
    intact bytes under another name, a changed content id another brief's bytes."""
    return bool(rows.row_sum("briefs", brief_row[:-1]) == brief_row[-1])


def damaged_briefs(db: Connection, records: Sequence[BriefRecord]) -> set[tuple[str, int]]:
    """Which of these records (path, version) have a catalogue row that fails its checksum
    (see `_sound`): a restore must not write them. Their rows are found by content id (as
    read from those same rows, so a damaged cell still finds its row), not by a scan of the
    whole catalogue: restoring one brief of a million reads a few rows."""
    if not db.checksummed or not records:
        return set()
    wanted = {(r.path, r.version) for r in records}
    ids = sorted({r.content_id for r in records})
    sql = f"SELECT {_BRIEF_ROW} FROM briefs b"
    if len(ids) <= SCAN_PARAMETERS:
        found = db.query(f"{sql} WHERE b.content IN ({','.join('?' * len(ids))})", ids,
                         lenient=True)
    else:  # one pass: an archive of format 8 has no index on `content`, so each chunk of
        # ids would read the whole table again (~0.25 s per million rows)
        found = db.query(sql, lenient=True)
    return {(row[1], row[2]) for row in found if (row[1], row[2]) in wanted and not _sound(row)}


def records_of_contents(db: Connection, content_ids: Iterable[int], *,
                        all_versions: bool = False, holders: Holders | None = None
                        ) -> dict[int, list[BriefRecord]]:
    """The briefs holding each of these contents (latest versions unless `all_versions`): a
    search needs a few records, not all of a million. Without `holders`, two scans of
    `briefs` (format 8 has no index by content or path: ~80 ms CPU each per million briefs)."""
    wanted = sorted({int(i) for i in content_ids})
    if holders is not None:
        found = [row for i in wanted for row in holders.rows.get(i, ())]
        numbers = holders.numbers
    else:
        found = []
        for start in range(0, len(wanted), SCAN_PARAMETERS):
            part = wanted[start:start + SCAN_PARAMETERS]
            found += db.query(_RECORD_SQL + " WHERE b.content IN "
                              f"({','.join('?' * len(part))})" + _RECORD_ORDER, part,
                              lenient=True)
        numbers = version_numbers(db, {row[0] for row in found})
        # a path cell that is not UTF-8, read leniently, matches no path by name: its own
        # rows stand for its versions (it fails its checksum, which restore and verify name)
        unmatched = Counter(row[0] for row in found if row[0] not in numbers)
        for row in found:  # by path and version: the last of a path is its latest
            if row[0] in unmatched:
                numbers[row[0]] = (row[1], unmatched[row[0]])
    counts = {path: count for path, (_, count) in numbers.items()}
    out: dict[int, list[BriefRecord]] = {}
    for row in found:
        if row[2] is None:  # its contents row is lost: no content of its own to be found by
            continue
        record = _record(db, row, counts)
        if all_versions or record.version == numbers[record.path][0]:
            out.setdefault(record.content_id, []).append(record)
    return out


class Holders:
    """Every brief row by its content, and each path's latest version, from one scan: for a
    reader that looks many contents up (a batch of queries), which records_of_contents
    would otherwise scan `briefs` for twice each time."""

    def __init__(self, db: Connection) -> None:
        self.rows: dict[Any, list[Any]] = {}
        self.numbers: dict[str, tuple[int, int]] = {}  # path -> (latest version, versions)
        for row in db.iterate(_RECORD_SQL + _RECORD_ORDER, lenient=True):
            if row[2] is not None:  # a lost contents row holds no content to look up
                self.rows.setdefault(row[7], []).append(row)
            # rows come by path and version: the last is the latest
            self.numbers[row[0]] = (row[1], self.numbers.get(row[0], (0, 0))[1] + 1)


def version_numbers(db: Connection, paths: Set[str]) -> dict[str, tuple[int, int]]:
    """(latest version number, how many versions are stored) of each of these paths that has
    one: the two differ once a version was removed (`rm --version`, a prune)."""
    wanted = sorted(paths)
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(wanted), SCAN_PARAMETERS):
        part = wanted[start:start + SCAN_PARAMETERS]
        found.update((path, (latest, count)) for path, latest, count in db.query(
            "SELECT path, MAX(version), COUNT(*) FROM briefs WHERE path IN "
            f"({','.join('?' * len(part))}) GROUP BY path", part, lenient=True))
    return found


_RECORD_CELLS = (str, int, bytes, int, int, int, int, int)


def _record(db: Connection, row: Sequence[Any], counts: Mapping[str, int],
            times: dict[int, str] | None = None) -> BriefRecord:
    """A record from a _RECORD_SQL row; `counts`: how many versions each path has. A row
    whose contents row is lost (every content cell NULL) gives a record with an empty
    sha256 and size 0 (`is_lost`), which `records` reports."""
    path, version, sha, size, stored, added, encoding, content_id = row
    lost = sha is None and encoding is None
    if lost:
        row = (path, version, b"", 0, 0, added, 0, content_id)
    check_cells(row, _RECORD_CELLS, f"{db.path}: the catalogue row of {str(path)[:80]!r}")
    if lost:
        return BriefRecord(path, version, counts[path], "", 0, 0, _time(added), "",
                           content_id)
    if len(sha) != 32 or not 0 <= encoding < len(ENCODINGS) or path not in counts:
        raise IntegrityError(f"{db.path}: the catalogue row of {path!r} is damaged; run "
                             "`briefmin verify`")
    added_at = times.get(added) if times is not None else None
    if added_at is None:
        added_at = _time(added)
        if times is not None:
            times[added] = added_at
    return BriefRecord(path, version, counts[path], sha.hex(), size, stored, added_at,
                       ENCODINGS[encoding], content_id)


def _time(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"@{seconds}"  # a damaged time is shown, not a reason to fail


def now() -> int:
    """The time a brief is added at, as stored: unix seconds."""
    return int(datetime.now(UTC).timestamp())


def latest_digests(db: Connection) -> dict[str, bytes]:
    """The sha256 of each path's latest version."""
    # unsorted (no sort of a million rows at the start of every add): highest version wins
    best: dict[str, tuple[int, bytes]] = {}
    for path, version, digest in db.iterate(
            "SELECT b.path, b.version, c.sha256 FROM briefs b JOIN contents c "
            "ON c.id = b.content"):
        if path not in best or version > best[path][0]:
            best[path] = (version, digest)
    return {path: digest for path, (_, digest) in best.items()}


def latest_briefs(db: Connection) -> dict[str, tuple[int, int]]:
    """(briefs.id, size) of each path's latest version (snapshots record these ids)."""
    # SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
    # Unconverted: every nightly add reads all of them (a third of its snapshot's cost was
    # int()/str() on 64k rows)
    return {path: (i, size) for path, i, size, _ in db.query(
        "SELECT b.path, b.id, c.size, MAX(b.version) FROM briefs b "
        "JOIN contents c ON c.id = b.content GROUP BY b.path")}


def delete_versions_except(db: Connection, keep: Set[int], *, keep_upto: int = 0
                           ) -> list[tuple[str, int]]:
    """Delete every brief row whose id is neither in `keep` nor at most `keep_upto`; returns
    their (path, version)."""
    gone = [(int(i), str(p), int(v)) for i, p, v in db.query(
        "SELECT id, path, version FROM briefs WHERE id > ?", (keep_upto,))
        if int(i) not in keep]
    db.executemany("DELETE FROM briefs WHERE id = ?", [(i,) for i, _, _ in gone])
    return [(p, v) for _, p, v in gone]


class Lookup:
    """What a writer looks up for every brief it adds, held in memory for a whole run: the
    latest (version, sha256) of each path and the id of each stored sha256. The catalogue has
    no index to find them (format 8: see schema.py), and the writer holds the whole-run lock,
    so no one else changes it; its own changes are noted with `stored`. One scan of each
    table builds it (`add` read every path's sha256 at its start before this already)."""

    def __init__(self, db: Connection) -> None:
        self.contents: dict[bytes, int] = {}
        (top,), = db.query("SELECT COALESCE(MAX(id), 0) FROM contents")
        digests: list[bytes | None] = [None] * (int(top) + 1)  # by id: one object per sha256
        # ids a damaged table holds twice (a flipped rowid): a brief linked to one would
        # read the other row's bytes (`check_linked`)
        self.doubled: set[int] = set()
        for i, digest in db.iterate("SELECT id, sha256 FROM contents"):  # ids: rowids
            self.contents[digest] = i
            if digests[i] is not None:
                self.doubled.add(i)
            digests[i] = digest
        self.latest: dict[str, tuple[int, bytes]] = {}
        # the highest content id a brief row names: one whose contents row is lost must not
        # be given to a new content (the old row would read the new bytes as its own)
        self.referenced = 0
        for path, version, content in db.iterate("SELECT path, version, content FROM briefs"):
            if isinstance(content, int) and content > self.referenced:
                self.referenced = content
            # a damaged content id, or one whose contents row is lost, finds no sha256: b""
            # matches no brief, so the next add stores the brief again (verify names the
            # row), as a version past every stored one (never a second row of one version)
            digest = (digests[content] if isinstance(content, int)
                      and 0 <= content < len(digests) else None)
            if isinstance(version, int) and (path not in self.latest
                                             or version > self.latest[path][0]):
                self.latest[path] = (version, b"" if digest is None else digest)
        self.times: dict[int, int] = {t: i for i, t in db.iterate("SELECT id, time FROM times")}

    def next_content(self, db: Connection) -> int:
        """The id a new content gets: past every `contents` row and every id a brief row
        names (see `referenced`)."""
        return max(rows.next_id(db, "contents"), self.referenced + 1)

    def content_ids(self, digests: Iterable[bytes]) -> dict[bytes, int]:
        """The ids of those of these sha256 that are stored."""
        return {d: self.contents[d] for d in digests if d in self.contents}

    def time_ids(self, db: Connection, times: Iterable[int]) -> dict[int, int]:
        """The `times` ids of these unix times, new rows for those not there yet (in the
        caller's transaction: note them with `stored` once it committed)."""
        wanted = set(times)
        found = {t: self.times[t] for t in wanted if t in self.times}
        missing = sorted(wanted - found.keys())
        if missing:
            first = rows.next_id(db, "times")
            new = {t: first + k for k, t in enumerate(missing)}
            rows.put_many(db, "times", [(i, t) for t, i in new.items()])
            found.update(new)
        return found

    def stored(self, contents: dict[bytes, int], versions: dict[str, tuple[int, bytes]],
               times: dict[int, int]) -> None:
        """Note what a committed transaction stored: contents by sha256, versions by path,
        times by time."""
        self.contents.update(contents)
        self.latest.update(versions)
        self.times.update(times)


_CONTENT_COLUMNS = rows.checked_columns("contents")


def check_linked(db: Connection, linked: Mapping[int, tuple[str, bytes]],
                 doubled: Set[int] = frozenset()) -> None:
    """Before new versions are linked to stored contents (`linked`: content id -> the path
    and sha256 of the brief to link), check those contents' rows: each found by its id,
    holding that sha256, passing its checksum, its id held once. Found by its sha256 alone,
    a damaged row (a flipped id) linked a re-added brief to another brief's bytes, which
    `restore` then wrote under its name with exit 0. Only the rows linked are read: an `add`
    of changed briefs reads a few, never the whole table."""
    wanted = sorted(linked)
    found: dict[int, Sequence[Any]] = {}
    for start in range(0, len(wanted), SCAN_PARAMETERS):
        part = wanted[start:start + SCAN_PARAMETERS]
        found.update((row[0], row) for row in db.query(
            f"SELECT {_CONTENT_COLUMNS} FROM contents WHERE id IN "
            f"({','.join('?' * len(part))})", part, lenient=True))
    for content_id in wanted:
        path, digest = linked[content_id]
        row = found.get(content_id)
        if content_id in doubled or row is None or row[1] != digest or (
                db.checksummed and row[-1] != rows.row_sum("contents", row[:-1])):
            raise IntegrityError(
                f"{db.path}: {path}: its bytes are stored as item {content_id}, whose "
                "catalogue entry is damaged, so it cannot be linked to them; nothing of "
                f"this batch was added; run `briefmin verify {db.path}` and `rm` the "
                "briefs it names, then add again")


def content_ids(db: Connection, digests: Iterable[bytes]) -> dict[bytes, int]:
    """The ids of those of these sha256 that are stored, by a scan of `contents` (writers
    use a Lookup instead)."""
    wanted = list(digests)
    found: dict[bytes, int] = {}
    for start in range(0, len(wanted), SCAN_PARAMETERS):
        part = wanted[start:start + SCAN_PARAMETERS]
        found.update((bytes(d), int(i)) for i, d in db.query(
            f"SELECT id, sha256 FROM contents WHERE sha256 IN ({','.join('?' * len(part))})",
            part))
    return found


def content_row(content: int, digest: bytes, size: int, encoding: str, n_vectors: int,
                block_id: int, offset: int) -> tuple[object, ...]:
    """A new `contents` row, for insert_contents."""
    return (content, digest, size, block_id, offset, ENCODINGS.index(encoding), n_vectors,
            None, None)


def insert_contents(db: Connection, new: Sequence[tuple[object, ...]]) -> None:
    rows.put_many(db, "contents", new)


def brief_row(brief: int, path: str, version: int, content: int, time_id: int
              ) -> tuple[object, ...]:
    """A new `briefs` row, for insert_briefs: `time_id` names its time in `times` (see
    Lookup.time_ids). Its path key is 0 (stored in no byte): format 8 has no index to use
    one."""
    return (brief, path, version, content, time_id, 0)


def insert_briefs(db: Connection, new: Sequence[tuple[object, ...]]) -> None:
    rows.put_many(db, "briefs", new)


def versions_of(db: Connection, paths: Iterable[str]
                ) -> dict[str, list[tuple[int, int, int, int]]]:
    """(briefs.id, version, content, unix time added) of every version of each of these
    paths, in one scan of `briefs`."""
    wanted = set(paths)
    found: dict[str, list[tuple[int, int, int, int]]] = {}
    for row in db.iterate("SELECT b.id, b.path, b.version, b.content, t.time FROM briefs b "
                          "LEFT JOIN times t ON t.id = b.added"):
        if row[1] in wanted:
            check_cells(row, (int, str, int, int, int),
                        f"{db.path}: the catalogue row of {str(row[1])[:80]!r}")
            brief, path, version, content, added = row
            found.setdefault(path, []).append((brief, version, content, added))
    return found


def delete_briefs(db: Connection, gone: Sequence[BriefRecord]) -> None:
    """Delete these versions' rows (found in one scan of `briefs`). Read leniently, as
    `records` reads them, so a row whose path cell is not UTF-8 can be removed; matched by
    content too, so of two damaged paths that read the same, a version of one (`rm
    --version`) never takes the other's row with it."""
    wanted = {(r.path, r.version, r.content_id) for r in gone}
    db.executemany("DELETE FROM briefs WHERE id = ?", [
        (i,) for i, *key in db.query("SELECT id, path, version, content FROM briefs",
                                     lenient=True)
        if tuple(key) in wanted])


def unnamed(db: Connection, ids: Set[int]) -> set[int]:
    """Those of these content ids that neither a `contents` row nor a brief row holds."""
    wanted = sorted(ids)
    held: set[int] = set()
    for start in range(0, len(wanted), SCAN_PARAMETERS):
        part = wanted[start:start + SCAN_PARAMETERS]
        marks = ",".join("?" * len(part))
        held |= {i for (i,) in db.query(f"SELECT id FROM contents WHERE id IN ({marks})", part)}
        held |= {i for (i,) in db.query(f"SELECT DISTINCT content FROM briefs WHERE content "
                                        f"IN ({marks})", part)}
    return set(wanted) - held


def orphan_ids(db: Connection) -> set[int]:
    """The contents no brief holds."""
    return {int(i) for (i,) in db.query(
        "SELECT id FROM contents WHERE id NOT IN (SELECT content FROM briefs)")}


def delete_orphans(db: Connection) -> tuple[set[int], set[int]]:
    """Delete the contents no brief holds; returns their ids and the blocks they were in."""
    orphans = orphan_ids(db)
    if not orphans:
        return orphans, set()
    touched = {int(b) for (b,) in db.query(
        f"SELECT DISTINCT block FROM contents WHERE block IS NOT NULL AND id IN "
        f"({','.join('?' * len(orphans))})", sorted(orphans))}
    db.executemany("DELETE FROM contents WHERE id = ?", [(i,) for i in orphans])
    return orphans, touched


def vector_counts(db: Connection) -> list[tuple[Any, Any]]:
    """(content id, vector rows it owns) per content, as stored (unchecked)."""
    return [(i, n) for i, n in db.query("SELECT id, vectors FROM contents")]


def totals(db: Connection) -> dict[str, int]:
    """Counts and byte sums for `info`."""
    (paths, versions, raw), = db.query(
        # LEFT: a brief whose contents row is lost still counts (its size unknown: none)
        "SELECT COUNT(DISTINCT path), COUNT(*), COALESCE(SUM(c.size), 0) FROM briefs b "
        "LEFT JOIN contents c ON c.id = b.content")
    (contents, unique_raw, frames), = db.query(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(LENGTH(frame)), 0) "
        "FROM contents")
    return {"briefs": paths, "versions": versions, "raw_bytes": raw,
            "unique_contents": contents, "unique_raw_bytes": unique_raw,
            "frame_bytes": frames}
