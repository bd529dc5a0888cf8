"""The catalogue: `briefs` (one row per path and version) and `contents` (one row per distinct
sha256), the records built from them, and the one selector grammar every command uses."""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import InputError, IntegrityError
from . import rows
from .connection import Connection, check_cells
from .schema import ENCODINGS


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
    SELECT b.path, b.version, c.sha256, c.size,
           -- a brief in a solid block is charged its share of the block's frame
           CASE WHEN c.block IS NULL THEN LENGTH(c.frame)
                ELSE c.size * LENGTH(bl.data) / MAX(bl.size, 1) END,
           b.added, c.encoding, c.id
    FROM briefs b JOIN contents c ON c.id = b.content
    LEFT JOIN blocks bl ON bl.id = c.block
"""
_RECORD_ORDER = " ORDER BY b.path, b.version"

_HEX = re.compile(r"[0-9a-f]{4,64}")


def selects(selector: str, path: str, sha256: str) -> bool:
    """The selector grammar: an exact path, a folder prefix, a glob, or a sha256 prefix
    (≥ 4 hex digits)."""
    folder = selector.rstrip("/") + "/"
    if selector == path or path.startswith(folder):
        return True
    if any(ch in selector for ch in "*?[") and fnmatch.fnmatchcase(path, selector):
        return True
    return bool(_HEX.fullmatch(selector)) and sha256.startswith(selector)


def _selected(selector: str, by_path: list[BriefRecord], paths: list[str]
              ) -> list[BriefRecord]:
    """The records `selects` takes, found by bisecting the sorted paths for an exact path or
    a folder, so restoring 1,000 named briefs of a million does not test every pair (it
    took 631 s); only globs and sha256 prefixes scan every record."""
    folder = selector.rstrip("/") + "/"
    hit = set(range(bisect.bisect_left(paths, selector), bisect.bisect_right(paths, selector)))
    hit.update(range(bisect.bisect_left(paths, folder),
                     bisect.bisect_left(paths, folder[:-1] + chr(ord("/") + 1))))
    if any(ch in selector for ch in "*?[") or _HEX.fullmatch(selector):
        hit.update(k for k, r in enumerate(by_path) if selects(selector, r.path, r.sha256))
    return [by_path[k] for k in sorted(hit)]


def selecting_others(paths: Sequence[str], records: Sequence[BriefRecord]) -> list[str]:
    """The paths that, used as selectors, would select other briefs besides their own."""
    folders = {r.path[:k + 1] for r in records for k, ch in enumerate(r.path) if ch == "/"}
    out = []
    for path in paths:
        if path.rstrip("/") + "/" in folders or (
                (any(ch in path for ch in "*?[") or _HEX.fullmatch(path))
                and any(r.path != path and selects(path, r.path, r.sha256) for r in records)):
            out.append(path)
    return out


def records(db: Connection, selectors: Sequence[str] = (), *, version: int | None = None,
            all_versions: bool = False, within: Set[tuple[str, int]] | None = None
            ) -> list[BriefRecord]:
    """Briefs matching the selectors (see `selects`); no selector = every brief. Latest
    versions unless `version` or `all_versions`; only the (path, version) pairs `within` holds
    when it is given (a snapshot's)."""
    found = db.query(_RECORD_SQL + _RECORD_ORDER)
    latest: dict[str, int] = {}
    for row in found:  # rows come by path and version: the last of a path is its latest
        latest[row[0]] = row[1]
    times: dict[int, str] = {}  # the briefs of one add share a few seconds: format each once
    rows = [_record(db, r, latest, times) for r in found]
    if within is not None:  # snapshots (issue 16): every version the snapshot holds
        rows = [r for r in rows if (r.path, r.version) in within]
    elif not all_versions and version is None:
        rows = [r for r in rows if r.version == r.versions]
    elif version is not None:
        rows = [r for r in rows if r.version == version]
    if not selectors:
        return rows
    chosen: dict[tuple[str, int], BriefRecord] = {}
    by_path = sorted(rows, key=lambda r: r.path)
    paths = [r.path for r in by_path]
    for selector in selectors:
        matched = _selected(selector, by_path, paths)
        if not matched:
            which = f" at version {version}" if version is not None else ""
            raise InputError(f"no brief matches {selector!r}{which}; "
                             "see `briefmin ls ARCHIVE`")
        chosen.update({(r.path, r.version): r for r in matched})
    return sorted(chosen.values(), key=lambda r: (r.path, r.version))


def records_of_contents(db: Connection, content_ids: Iterable[int], *,
                        all_versions: bool = False) -> dict[int, list[BriefRecord]]:
    """The briefs holding each of these contents (latest versions unless `all_versions`),
    looked up by id: a search needs a few records, not all of a million."""
    wanted = sorted({int(i) for i in content_ids})
    found = []
    for start in range(0, len(wanted), 500):  # SQLite caps bound parameters per statement
        part = wanted[start:start + 500]
        found += db.query(_RECORD_SQL + f" WHERE c.id IN ({','.join('?' * len(part))})"
                          + _RECORD_ORDER, part)
    latest = {path: version for path, (version, _) in
              latest_versions(db, (row[0] for row in found)).items()}
    out: dict[int, list[BriefRecord]] = {}
    for row in found:
        record = _record(db, row, latest)
        if all_versions or record.version == record.versions:
            out.setdefault(record.content_id, []).append(record)
    return out


_RECORD_CELLS = (str, int, bytes, int, int, int, int, int)


def _record(db: Connection, row: Sequence[Any], latest: dict[str, int],
            times: dict[int, str] | None = None) -> BriefRecord:
    path, version, sha, size, stored, added, encoding, content_id = row
    check_cells(row, _RECORD_CELLS, f"{db.path}: the catalogue row of {str(path)[:80]!r}")
    if len(sha) != 32 or not 0 <= encoding < len(ENCODINGS) or path not in latest:
        raise IntegrityError(f"{db.path}: the catalogue row of {path!r} is damaged; run "
                             "`briefmin verify`")
    added_at = times.get(added) if times is not None else None
    if added_at is None:
        added_at = _time(added)
        if times is not None:
            times[added] = added_at
    return BriefRecord(path, version, latest[path], sha.hex(), size, stored, added_at,
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


def delete_versions_except(db: Connection, keep: Set[int]) -> list[tuple[str, int]]:
    """Delete every brief row whose id is not in `keep`; returns their (path, version)."""
    gone = [(int(i), str(p), int(v)) for i, p, v in db.query(
        "SELECT id, path, version FROM briefs") if int(i) not in keep]
    db.executemany("DELETE FROM briefs WHERE id = ?", [(i,) for i, _, _ in gone])
    return [(p, v) for _, p, v in gone]


def content_id(db: Connection, digest: bytes) -> int | None:
    # the expression is the index's (a prefix of the sha256), so the index is used
    row = db.one("SELECT id FROM contents WHERE substr(sha256, 1, 4) = ? AND sha256 = ?",
                 (digest[:4], digest))
    return int(row[0]) if row else None


def content_ids(db: Connection, digests: Iterable[bytes]) -> dict[bytes, int]:
    """The ids of those of these sha256 that are stored, in one statement per 400."""
    wanted = list(digests)
    found: dict[bytes, int] = {}
    for start in range(0, len(wanted), 400):  # SQLite caps bound parameters per statement
        part = wanted[start:start + 400]
        # the expression is the index's (a prefix of the sha256), so the index is used
        found.update((bytes(d), int(i)) for i, d in db.query(
            "SELECT id, sha256 FROM contents WHERE substr(sha256, 1, 4) IN "
            f"({','.join('?' * len(part))}) AND sha256 IN ({','.join('?' * len(part))})",
            [d[:4] for d in part] + part))
    return found


def latest_versions(db: Connection, paths: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """(version, sha256) of the latest version of each of these paths that has one, in one
    statement per 400 paths: a lookup per brief was a growing share of `add` as the archive
    grew (a random probe of the path index each)."""
    wanted = set(paths)
    keys = sorted({rows.path_key(path) for path in wanted})
    found: dict[str, tuple[int, bytes]] = {}
    for start in range(0, len(keys), 400):  # SQLite caps bound parameters per statement
        part = keys[start:start + 400]
        for path, version, digest in db.query(
                "SELECT b.path, b.version, c.sha256 FROM briefs b JOIN contents c "
                f"ON c.id = b.content WHERE b.pathkey IN ({','.join('?' * len(part))})",
                part):
            if path in wanted and (path not in found or version > found[path][0]):
                found[path] = (int(version), bytes(digest))
    return found


def insert_content(db: Connection, digest: bytes, size: int, encoding: str, n_vectors: int,
                   block_id: int, offset: int) -> int | None:
    """The new content's id, or None when its sha256 is stored already."""
    if content_id(db, digest) is not None:
        return None
    new_id = rows.next_id(db, "contents")
    rows.put(db, "contents", content_row(new_id, digest, size, encoding, n_vectors, block_id,
                                         offset))
    return new_id


def insert_brief(db: Connection, path: str, version: int, content: int, added: int) -> None:
    rows.put(db, "briefs", brief_row(rows.next_id(db, "briefs"), path, version, content,
                                     added))


def content_row(content: int, digest: bytes, size: int, encoding: str, n_vectors: int,
                block_id: int, offset: int) -> tuple[object, ...]:
    """A new `contents` row, for insert_contents."""
    return (content, digest, size, block_id, offset, ENCODINGS.index(encoding), n_vectors,
            None, None)


def insert_contents(db: Connection, new: Sequence[tuple[object, ...]]) -> None:
    rows.put_many(db, "contents", new)


def brief_row(brief: int, path: str, version: int, content: int, added: int
              ) -> tuple[object, ...]:
    """A new `briefs` row, for insert_briefs."""
    return (brief, path, version, content, added, rows.path_key(path))


def insert_briefs(db: Connection, new: Sequence[tuple[object, ...]]) -> None:
    rows.put_many(db, "briefs", new)


def latest_version(db: Connection, path: str) -> tuple[int, bytes] | None:
    """(version, sha256) of the path's latest version, if it has one."""
    row = db.one("SELECT b.version, c.sha256 FROM briefs b JOIN contents c "
                 "ON c.id = b.content WHERE b.pathkey = ? AND b.path = ? "
                 "ORDER BY b.version DESC LIMIT 1", (rows.path_key(path), path))
    return (int(row[0]), bytes(row[1])) if row else None


def delete_briefs(db: Connection, gone: Sequence[BriefRecord]) -> None:
    db.executemany("DELETE FROM briefs WHERE pathkey = ? AND path = ? AND version = ?",
                   [(rows.path_key(r.path), r.path, r.version) for r in gone])


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
        "SELECT COUNT(DISTINCT path), COUNT(*), COALESCE(SUM(c.size), 0) FROM briefs b "
        "JOIN contents c ON c.id = b.content")
    (contents, unique_raw, frames), = db.query(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(LENGTH(frame)), 0) "
        "FROM contents")
    return {"briefs": paths, "versions": versions, "raw_bytes": raw,
            "unique_contents": contents, "unique_raw_bytes": unique_raw,
            "frame_bytes": frames}
