"""Snapshots: what one `add` run saw under its roots, as tables `snapshots` and
`snapshot_spans` (schema migration 5; their rows are checksummed like all others, rows.py).

Snapshots of the same host and roots form a chain. A span (chain, brief, first, last) says that
one brief version was present in every snapshot of the chain from id `first` to id `last`
(NULL: still present at the chain's newest). Recording a snapshot compares the paths seen with
the spans that cover the chain's newest snapshot (its open spans, unless newer snapshots were
forgotten): unchanged briefs cost nothing, a changed or deleted one closes its span, a new
version opens one. Forgetting a snapshot deletes its row and the spans that cover no
remaining snapshot of the chain; ids are never reused (meta 'snapshot_seq' holds the highest
given), so no old span can cover a new one."""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import InputError, IntegrityError
from . import catalogue, rows, schema
from .connection import Connection, check_cells


@dataclass(frozen=True)
class Snapshot:
    id: int
    time: datetime
    host: str
    roots: tuple[str, ...]
    tags: tuple[str, ...]
    chain: int
    files: int
    bytes: int
    added: int
    changed: int
    deleted: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time.isoformat(), "host": self.host,
                "tags": list(self.tags), "roots": list(self.roots), "files": self.files,
                "bytes": self.bytes, "added": self.added, "changed": self.changed,
                "deleted": self.deleted}


_COLUMNS = "id, time, host, roots, tags, chain, files, bytes, added, changed, deleted"
# the spans `s` that cover a snapshot (parameters: its chain, then its id twice)
_COVERS = "s.chain = ? AND s.first <= ? AND (s.last IS NULL OR s.last >= ?)"


def present(db: Connection) -> bool:
    """False in an archive of format < 5 opened read-only (never migrated): no snapshots."""
    return db.one("SELECT 1 FROM sqlite_master WHERE name = 'snapshots'") is not None


def listing(db: Connection) -> list[Snapshot]:
    """Every snapshot, oldest first (by time, then id)."""
    if not present(db):
        return []
    out = [_snapshot(db, row) for row in db.query(f"SELECT {_COLUMNS} FROM snapshots")]
    return sorted(out, key=lambda s: (s.time, s.id))


def _snapshot(db: Connection, row: Sequence[Any]) -> Snapshot:
    check_cells(row, (int, str, str, str, str, int, int, int, int, int, int),
                f"{db.path}: snapshot {row[0]!r}")
    try:
        time = datetime.fromisoformat(row[1])
        roots, tags = json.loads(row[3]), json.loads(row[4])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError(f"tags {row[4]!r}")
    except ValueError as exc:
        raise IntegrityError(f"{db.path}: snapshot {row[0]} is damaged ({exc}); run "
                             "`briefmin verify`") from exc
    return Snapshot(row[0], time, row[2], tuple(roots), split_tags(tags), *row[5:])


def split_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as a snapshot holds them: each split at commas and trimmed (restic's `--tag a,b`
    is the tags a and b; a briefmin before that stored "a,b" as one tag, which forget's
    comma-separated lists could never match), empty ones dropped, each once, in order."""
    return tuple(dict.fromkeys(t for tag in tags for part in tag.split(",")
                               if (t := part.strip())))


def names_digest(paths: Iterable[str]) -> bytes:
    return hashlib.sha256("\n".join(sorted(paths)).encode("utf-8", "surrogateescape")).digest()


def _top_brief(db: Connection) -> int:
    (top,), = db.query("SELECT COALESCE(MAX(id), 0) FROM briefs")
    return int(top)


def repeat(db: Connection, paths: Set[str], *, time: datetime, host: str,
           roots: Sequence[str], tags: Sequence[str]) -> Snapshot | None:
    """Record an unchanged night without reading the catalogue: when the chain's previous
    snapshot is the last one recorded at all, held these very paths, no brief row was added
    since, and its spans are all still open, this one holds what it held. None otherwise (the
    caller then compares for real, with `record`). The caller holds a write transaction."""
    digest = names_digest(paths)
    chain = _parent_chain(db, host, roots)
    row = None if chain is None else db.one(
        f"SELECT {_COLUMNS}, names, top FROM snapshots WHERE chain = ? ORDER BY id DESC "
        "LIMIT 1", (chain,))
    if row is None or row[-2] != digest or row[-1] != _top_brief(db):
        return None
    parent = _latest(db, host, roots, time)
    if parent is None or parent[0] != row[0]:
        return None  # back-dated (--time): its counts are against an older snapshot
    previous = _snapshot(db, row[:-2])
    (still_open,), = db.query("SELECT COUNT(*) FROM snapshot_spans WHERE chain = ? AND "
                              "last IS NULL", (previous.chain,))
    if highest_id(db) != previous.id or still_open != len(paths):
        return None
    return _insert(db, time, host, roots, tags, previous.chain, previous.files,
                   previous.bytes, (0, 0, 0), digest)


def highest_id(db: Connection) -> int:
    """The highest snapshot id ever given (forgotten ones included): the next one is above
    it, so no old span covers it, and no deleted snapshot's id is given again for the
    ledger to vouch for."""
    row = db.one("SELECT value FROM meta WHERE key = 'snapshot_seq'")
    (top,), = db.query("SELECT COALESCE(MAX(id), 0) FROM snapshots")
    listed = read_ledger(db) if db.version >= schema.LEDGERED else set()
    return max(int(json.loads(row[0])) if row else 0, int(top),
               max(listed) if isinstance(listed, set) and listed else 0)


def _insert(db: Connection, time: datetime, host: str, roots: Sequence[str],
            tags: Sequence[str], chain: int | None, files: int, total_bytes: int,
            changes: tuple[int, int, int], digest: bytes, latest: bool = True) -> Snapshot:
    """Write a snapshot row. `latest`: it holds each path's latest version; if not (a skipped
    path kept at its parent's older version), its `top` is -1, which no brief id matches, so
    the next run does not take `repeat`'s shortcut, which assumes it does."""
    snapshot_id = highest_id(db) + 1  # chosen first: the checksum covers it
    rows.put(db, "snapshots", (
        snapshot_id, time.isoformat(), host, json.dumps(sorted(roots)),
        json.dumps(list(split_tags(tags))),
        chain or snapshot_id,  # a new chain is named after its first snapshot
        files, total_bytes, *changes, digest, _top_brief(db) if latest else -1))
    schema.write_meta(db, {"snapshot_seq": snapshot_id})
    enter_ledger(db, [snapshot_id])
    return _snapshot(db, db.one(f"SELECT {_COLUMNS} FROM snapshots WHERE id = ?",
                                (snapshot_id,)))


def record(db: Connection, brief_ids: dict[str, int], *, time: datetime, host: str,
           roots: Sequence[str], tags: Sequence[str], total_bytes: int,
           latest: bool = True) -> Snapshot:
    """Record a snapshot holding exactly these briefs (path -> briefs.id). Its spans continue
    those of the chain's newest snapshot (the last recorded); its counts compare it with its
    parent, the latest snapshot of this host and roots at or before `time` (README; they
    differ when `--time` dates a run before snapshots recorded earlier). The caller holds
    a write transaction."""
    chain, held = _previous(db, host, roots)
    parent = _latest(db, host, roots, time)
    newest = _newest(db, chain) if chain is not None else None
    before = (set() if parent is None else set(held) if parent[0] == newest
              else held_by(db, parent[1], parent[0]))
    snapshot = _insert(db, time, host, roots, tags, chain, len(brief_ids), total_bytes,
                       _changes(db, brief_ids, before), names_digest(brief_ids), latest)
    write_spans(db, snapshot.chain, [snapshot.id], [set(brief_ids.values())], held)
    return snapshot


def write_spans(db: Connection, chain: int, ids: list[int], held: list[set[int]],
                covering: dict[int, tuple[int, int | None]]) -> None:
    """The spans of snapshots `ids` of `chain`, holding `held` (in order), after the chain's
    newest snapshot, whose spans are `covering` (brief -> first, last; none for a new chain):
    a span still open closes just before the first of them, one a forgotten newer snapshot
    closed opens again, and only changed spans are put again (with a new `last`, part of
    their checksum). No snapshot of the chain may lie between its newest and these. What
    `record` writes for one snapshot, and `merge` for the nights it carries."""
    spans: list[tuple[int, int, int, int | None]] = []
    open_at: dict[int, int] = {}  # brief -> the first snapshot of its current run
    for brief, (first, last) in covering.items():
        if brief in held[0]:
            open_at[brief] = first
        elif last is None:
            spans.append((chain, brief, first, ids[0] - 1))
    for k, members in enumerate(held):
        for brief in members - open_at.keys():
            open_at[brief] = ids[k]
        for brief in set(open_at) - members:
            spans.append((chain, brief, open_at.pop(brief), ids[k] - 1))
    spans += [(chain, brief, first, None) for brief, first in open_at.items()
              if covering.get(brief) != (first, None)]
    rows.put_many(db, "snapshot_spans", sorted(spans, key=lambda r: (r[1], r[2])))


def _parent_chain(db: Connection, host: str, roots: Sequence[str]) -> int | None:
    """The chain a new snapshot of this host and roots joins: that of the latest one in time
    (then the highest id), as restic picks a parent. By id alone it was, after a `merge` of
    two archives of one folder (their chains carried one after the other), the chain carried
    last, not the newest: an unchanged night recorded the other archive's older versions as
    the folder's, and `restore --snapshot latest` wrote them."""
    latest = _latest(db, host, roots)
    return None if latest is None else latest[1]


def _latest(db: Connection, host: str, roots: Sequence[str], limit: datetime | None = None
            ) -> tuple[int, int] | None:
    """(id, chain) of the latest snapshot of this host and roots in time (then the highest
    id), of those at or before `limit` when given: restic's parent, which it picks with the
    new snapshot's time as the limit."""
    if limit is not None and limit.tzinfo is None:
        limit = limit.replace(tzinfo=UTC)
    best: tuple[tuple[datetime, int], int] | None = None
    for snapshot_id, chain, time in db.query(
            "SELECT id, chain, time FROM snapshots WHERE host = ? AND roots = ?",
            (host, json.dumps(sorted(roots)))):
        try:
            when = datetime.fromisoformat(time)
        except (TypeError, ValueError):
            continue  # a damaged row: its checksum names it
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        if limit is not None and when > limit:
            continue
        key = (when, snapshot_id)
        if isinstance(chain, int) and (best is None or key > best[0]):
            best = (key, chain)
    return None if best is None else (best[0][1], best[1])


def newest_per_chain(db: Connection) -> set[tuple[int, int]]:
    """(id, chain) of each chain's latest snapshot in time (then the highest id: what
    `restore --snapshot latest` reads) and of its last recorded one (they differ after a
    run dated back with `--time`). A time that cannot be read counts as the latest."""
    best: dict[int, tuple[tuple[datetime, int], int]] = {}
    last: dict[int, int] = {}
    never = datetime.max.replace(tzinfo=UTC)
    for snapshot_id, chain, time in db.query("SELECT id, chain, time FROM snapshots"):
        if not isinstance(chain, int) or not isinstance(snapshot_id, int):
            continue  # a damaged row: its checksum names it
        try:
            when = datetime.fromisoformat(time)
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        except (TypeError, ValueError):
            when = never
        key = (when, snapshot_id)
        if chain not in best or key > best[chain][0]:
            best[chain] = (key, snapshot_id)
        last[chain] = max(last.get(chain, snapshot_id), snapshot_id)
    return {(i, chain) for chain, (_, i) in best.items()} | {(i, c) for c, i in last.items()}


def _newest(db: Connection, chain: int) -> int:
    """The id of the chain's last recorded snapshot."""
    (newest,), = db.query("SELECT MAX(id) FROM snapshots WHERE chain = ?", (chain,))
    return int(newest)


def held_by(db: Connection, chain: int, snapshot_id: int) -> set[int]:
    """The brief ids a snapshot holds."""
    return {int(b) for b, in db.query(f"SELECT s.brief_id FROM snapshot_spans s WHERE {_COVERS}",
                                      (chain, snapshot_id, snapshot_id))}


def _changes(db: Connection, brief_ids: dict[str, int], before: set[int]
             ) -> tuple[int, int, int]:
    """Paths added, changed (other bytes, as `diff` says) and deleted from the snapshot
    holding `before` (brief ids) to one holding `brief_ids` (path -> brief id)."""
    now = set(brief_ids.values())
    opened_paths = {path for path, brief in brief_ids.items() if brief not in before}
    closed = {path: brief for brief, path in _paths(db, before - now).items()}
    both = opened_paths & closed.keys()
    # another version of a path may hold the same bytes (a back-dated run of an older state)
    content = _contents(db, [brief_ids[p] for p in both] + [closed[p] for p in both])
    same = {p for p in both
            if content.get(brief_ids[p], -1) == content.get(closed[p], -2)}
    return (len(opened_paths - closed.keys()), len(both - same),
            len(closed.keys() - opened_paths))


def _per_brief(db: Connection, select: str, brief_ids: Iterable[int]
               ) -> Iterator[Sequence[Any]]:
    """The rows of `select` (a query ending `WHERE b.id IN`, its briefs table aliased `b`)
    for these brief ids, 500 at a time: SQLite caps bound parameters per statement."""
    wanted = sorted(set(brief_ids))
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        yield from db.query(f"{select} ({','.join('?' * len(part))})", part)


def _contents(db: Connection, brief_ids: Iterable[int]) -> dict[int, int]:
    """brief id -> the id of the content it holds."""
    return {int(i): int(c) for i, c in _per_brief(
        db, "SELECT b.id, b.content FROM briefs b WHERE b.id IN", brief_ids)
        if isinstance(c, int)}


def _previous(db: Connection, host: str, roots: Sequence[str]
              ) -> tuple[int | None, dict[int, tuple[int, int | None]]]:
    """The chain of this host and roots (None: none yet) and what its newest snapshot holds:
    brief -> (first, last) of the span that holds it. Those are its open spans, and, once
    newer snapshots were forgotten, spans they closed, which a new snapshot compares with
    too (its counts are relative to the previous snapshot there is)."""
    chain = _parent_chain(db, host, roots)
    if chain is None:
        return None, {}
    return chain, _spans_covering(db, chain, _newest(db, chain))


def chain_ending_at(db: Connection, snapshot_id: int
                    ) -> tuple[int, dict[int, tuple[int, int | None]]] | None:
    """(chain, what it holds, as `_previous` gives it) when `snapshot_id` is its chain's
    newest (last recorded) snapshot; None otherwise. What `merge` continues."""
    row = db.one("SELECT chain FROM snapshots WHERE id = ?", (snapshot_id,))
    if row is None or not isinstance(row[0], int) or _newest(db, row[0]) != snapshot_id:
        return None
    return int(row[0]), _spans_covering(db, int(row[0]), snapshot_id)


def _spans_covering(db: Connection, chain: int, snapshot_id: int
                    ) -> dict[int, tuple[int, int | None]]:
    """brief -> (first, last) of each span of the chain that covers the snapshot."""
    return {int(b): (int(f), None if last is None else int(last)) for b, f, last in
            db.query(f"SELECT s.brief_id, s.first, s.last FROM snapshot_spans s "
                     f"WHERE {_COVERS}", (chain, snapshot_id, snapshot_id))}


def open_versions(db: Connection, host: str, roots: Sequence[str],
                  before: datetime | None = None) -> dict[str, int]:
    """Path -> briefs.id of what the newest snapshot of the chain of this host and roots
    holds; with `before`, of the latest one at or before that time (a new snapshot's
    parent)."""
    if not present(db):
        return {}
    if before is None:
        held = set(_previous(db, host, roots)[1])
    else:
        parent = _latest(db, host, roots, before)
        held = set() if parent is None else held_by(db, parent[1], parent[0])
    return {path: brief for brief, path in _paths(db, held).items()}


def sizes(db: Connection, brief_ids: Iterable[int]) -> dict[int, int]:
    """briefs.id -> the bytes its content holds."""
    return {int(i): int(size) for i, size in _per_brief(
        db, "SELECT b.id, c.size FROM briefs b JOIN contents c ON c.id = b.content "
            "WHERE b.id IN", brief_ids)}


def _paths(db: Connection, brief_ids: Iterable[int]) -> dict[int, str]:
    return {int(i): str(p) for i, p in _per_brief(
        db, "SELECT b.id, b.path FROM briefs b WHERE b.id IN", brief_ids)}


def members(db: Connection, snapshot: Snapshot) -> set[tuple[str, int]]:
    """The (path, version) pairs the snapshot holds; refused if it is forgotten by now (its
    spans may be pruned: a part of it would pass for all of it)."""
    with db.consistent():
        if db.one("SELECT 1 FROM snapshots WHERE id = ?", (snapshot.id,)) is None:
            raise InputError(f"no snapshot {snapshot.id}: it was forgotten while this ran; "
                             f"see `briefmin snapshots {db.path}`")
        return {(str(p), int(v)) for p, v in db.query(
            "SELECT b.path, b.version FROM snapshot_spans s JOIN briefs b "
            f"ON b.id = s.brief_id WHERE {_COVERS}", (snapshot.chain, snapshot.id, snapshot.id))}


def contents_digests(db: Connection, ids: Set[int]) -> dict[int, bytes]:
    """Per snapshot of `ids`: a digest of the (path, bytes) pairs it holds, whatever their
    order. Two snapshots of the same time, host, roots and path names can still hold other
    bytes (two machines of one name, an `rm` in a copy of the archive): `merge` tells them
    apart by this. One pass over the spans and the versions they name, not one query per
    snapshot (a nightly merge of a growing input meets every snapshot it carried before):
    each span adds its member's hash to the snapshots it covers, a difference array per
    chain; the sum of 128-bit hashes is the digest, with the count beside it."""
    if not ids:
        return {}
    by_chain: dict[int, list[int]] = {}
    for snapshot_id, chain in db.query("SELECT id, chain FROM snapshots"):
        by_chain.setdefault(int(chain), []).append(int(snapshot_id))
    wanted = {chain for chain, members in by_chain.items() if ids & set(members)}
    pair_hash: dict[int, int] = {}
    for brief_id, path, sha in db.query(
            "SELECT b.id, b.path, c.sha256 FROM briefs b JOIN contents c ON c.id = b.content"):
        key = str(path).encode("utf-8", "surrogateescape") + b"\0" + bytes(sha)
        pair_hash[int(brief_id)] = int.from_bytes(hashlib.sha256(key).digest()[:16], "big")
    mask = (1 << 128) - 1
    out: dict[int, bytes] = {}
    for chain in wanted:
        order = sorted(by_chain[chain])
        sums, counts = [0] * (len(order) + 1), [0] * (len(order) + 1)
        for brief_id, first, last in db.query(
                "SELECT brief_id, first, last FROM snapshot_spans WHERE chain = ?", (chain,)):
            lo = bisect.bisect_left(order, int(first))
            hi = len(order) if last is None else bisect.bisect_right(order, int(last))
            value = pair_hash.get(int(brief_id), 0)  # a lost version: `verify` names it
            sums[lo] += value
            sums[hi] -= value
            counts[lo] += 1
            counts[hi] -= 1
        total, count = 0, 0
        for k, snapshot_id in enumerate(order):
            total, count = total + sums[k], count + counts[k]
            if snapshot_id in ids:
                out[snapshot_id] = (total & mask).to_bytes(16, "big") + count.to_bytes(8, "big")
    return out


def held_pairs(db: Connection, snapshot_id: int) -> set[tuple[str, bytes]]:
    """The (path, sha256) pairs a snapshot holds."""
    row = db.one("SELECT chain FROM snapshots WHERE id = ?", (snapshot_id,))
    if row is None:
        return set()
    return {(str(p), bytes(sha)) for p, sha in db.query(
        "SELECT b.path, c.sha256 FROM snapshot_spans s JOIN briefs b ON b.id = s.brief_id "
        f"JOIN contents c ON c.id = b.content WHERE {_COVERS}",
        (int(row[0]), snapshot_id, snapshot_id))}


def lost_members(db: Connection, snapshot: Snapshot) -> int:
    """How many of the snapshot's entries name a brief version whose row is gone (damage:
    `rm` takes its versions out of every snapshot); `members` cannot list them."""
    (count,), = db.query(
        f"SELECT COUNT(*) FROM snapshot_spans s WHERE {_COVERS} AND s.brief_id NOT IN "
        "(SELECT id FROM briefs)", (snapshot.chain, snapshot.id, snapshot.id))
    return int(count)


def find(db: Connection, which: str) -> Snapshot:
    """A snapshot by id, or 'latest' (the newest by time)."""
    snapshots = listing(db)
    if not snapshots:
        raise InputError(f"{db.path} has no snapshots yet; each `briefmin add` records one")
    if which == "latest":
        # a deleted one may be newer: its time went with its row, and ids follow no time
        # order (`add --time` dates a run back, `merge` numbers chain after chain)
        refuse_missing(db, "the latest snapshot may be gone")
        return snapshots[-1]
    found = [s for s in snapshots if str(s.id) == which.strip()]
    if not found:
        refuse_missing(db, "", [i for i in unledgered(db)[0] if str(i) == which.strip()])
        raise InputError(f"no snapshot {which!r}; see `briefmin snapshots {db.path}`")
    return found[0]


def as_of(db: Connection, moment: datetime) -> Snapshot:
    """The newest snapshot taken at or before `moment` (refused while one is missing: it
    may be the one, see `find`'s latest)."""
    refuse_missing(db, "the snapshot as of that time may be gone")
    before = [s for s in listing(db) if s.time <= moment]
    if not before:
        raise InputError(f"{db.path} has no snapshot at or before {moment.isoformat()}")
    return before[-1]


def forget(db: Connection, ids: Sequence[int]) -> None:
    """Delete these snapshots and every span that then covers no snapshot. The caller holds
    a write transaction."""
    db.executemany("DELETE FROM snapshots WHERE id = ?", [(i,) for i in ids])
    if ids and db.version >= schema.LEDGERED:  # (forgetting none leaves the file as it was)
        _write_ledger(db, ledger(db) - set(ids))
    db.execute("DELETE FROM snapshot_spans WHERE NOT EXISTS (SELECT 1 FROM snapshots s "
               "WHERE s.chain = snapshot_spans.chain AND s.id >= snapshot_spans.first AND "
               "(snapshot_spans.last IS NULL OR s.id <= snapshot_spans.last))")


def read_ledger(db: Connection) -> set[int] | str:
    """The ids of the snapshots that exist by the ledger (schema.SNAPSHOT_LEDGER), or why
    it cannot tell: 'missing', or 'damaged' (its checksum fails, or it holds no ranges)."""
    row = db.one("SELECT key, value, checksum FROM meta WHERE key = ?",
                 (schema.SNAPSHOT_LEDGER,))
    ids = None if row is None or row[2] != rows.row_sum("meta", row[:2]) \
        else schema.ledger_ids(row[1])
    return ids if ids is not None else "missing" if row is None else "damaged"


def ledger_lost(state: str) -> str:
    return (f"the ledger of the archive's snapshots is {state}, so a deleted snapshot "
            "would go unnoticed")


def ledger(db: Connection) -> set[int]:
    """`read_ledger`, raising IntegrityError where it cannot tell: then no one can tell
    which snapshots were deleted, and nothing may write."""
    found = read_ledger(db)
    if isinstance(found, str):
        raise IntegrityError(
            f"{db.path}: {ledger_lost(found)}; nothing was changed; run `briefmin verify "
            f"--forget-missing {db.path}` to write it again from the snapshots stored")
    return found


def _write_ledger(db: Connection, ids: Iterable[int]) -> None:
    rows.put(db, "meta", (schema.SNAPSHOT_LEDGER, schema.ledger_value(ids)))


def enter_ledger(db: Connection, ids: Sequence[int]) -> None:
    """Add new snapshots' ids to the ledger. The caller holds a write transaction."""
    if db.version >= schema.LEDGERED:
        _write_ledger(db, ledger(db) | set(ids))


def _stored_ids(db: Connection) -> set[int]:
    return {int(i) for (i,) in db.query("SELECT id FROM snapshots")}


def unledgered(db: Connection) -> tuple[list[int], list[int]]:
    """(snapshots the ledger lists whose rows are gone, rows the ledger does not list):
    both empty in an archive only briefmin wrote, and in one of a format before the
    ledger. A deleted row's versions look held by no snapshot, so prune refuses to run
    while one is missing."""
    if db.version < schema.LEDGERED:
        return [], []
    return compare_ledger(db, ledger(db))


def compare_ledger(db: Connection, listed: set[int]) -> tuple[list[int], list[int]]:
    """`unledgered` for the ledger's ids as read."""
    stored = _stored_ids(db)
    return sorted(listed - stored), sorted(stored - listed)


def shown_ids(ids: Sequence[int]) -> str:
    """'3, 7, 9', the first ten and how many more, for a message."""
    return ", ".join(map(str, ids[:10])) + (f" and {len(ids) - 10} more" if len(ids) > 10
                                            else "")


def deleted_outside(ids: Sequence[int]) -> str:
    """'snapshot 7 was deleted outside briefmin', for the ids `unledgered` found missing."""
    shown = shown_ids(ids)
    return (f"snapshot {shown} was" if len(ids) == 1 else f"snapshots {shown} were") + \
        " deleted outside briefmin"


def refuse_missing_newest(db: Connection) -> None:
    """Refuse (IntegrityError) to record a snapshot while one deleted outside briefmin may
    have been a chain's newest (an id above that chain's newest stored one): the new one
    would continue the spans of an older one, and the deleted one's open spans would cover
    it too. An older deleted one changes nothing a new snapshot reads."""
    missing = unledgered(db)[0]
    newest = [i for i, _ in newest_per_chain(db)]
    refuse_missing(db, "a new snapshot could not tell what the newest one held",
                   [i for i in missing if not newest or i > min(newest)])


def refuse_missing(db: Connection, why: str, missing: Sequence[int] | None = None) -> None:
    """Raise IntegrityError naming the snapshots deleted outside briefmin (`missing`, or
    all `unledgered` finds), with `why` that stops the command, and the ways on."""
    if missing is None:
        missing = unledgered(db)[0]
    if missing:
        raise IntegrityError(
            f"{db.path}: {deleted_outside(missing)}{', so ' + why if why else ''}; nothing "
            "was changed; restore the archive from a backup, or run `briefmin verify "
            f"--forget-missing {db.path}` to accept the loss")


@dataclass(frozen=True)
class LedgerRepair:
    """What `verify --forget-missing` did (`reconcile_ledger`)."""

    forgotten: list[int]  # snapshots whose rows were gone, now forgotten
    entered: list[int]  # rows the ledger did not list, now listed
    rewritten: bool  # the ledger was lost (missing, or no ranges): written from the rows

    def to_json(self) -> dict[str, Any]:
        return {"forgotten": self.forgotten, "entered": self.entered,
                "rewritten": self.rewritten}


def reconcile_ledger(db: Connection) -> LedgerRepair:
    """`verify --forget-missing`: forget the snapshots whose rows are gone (their spans that
    then cover no snapshot go, as `forget` does; prune may then delete the versions only
    they held) and list the rows the ledger lacks; a ledger that is lost is written again
    from the rows. Refused (IntegrityError) while a snapshot row fails its checksum: a
    damaged id would look like one snapshot deleted and another added. The caller holds a
    write transaction."""
    listed = read_ledger(db)
    if isinstance(listed, str):  # nothing tells which snapshots are gone: the rows are all
        _write_ledger(db, _stored_ids(db))
        return LedgerRepair([], [], True)
    if damaged := [i for i, sound in _row_sums(db) if not sound]:
        raise IntegrityError(
            f"{db.path}: snapshot row(s) {shown_ids(damaged)} are damaged (checksum), so a "
            "deleted snapshot cannot be told from a damaged one; nothing was changed; "
            f"restore the archive from a backup, or `briefmin forget {db.path} ID` each of "
            "them first")
    missing, unlisted = compare_ledger(db, listed)
    if missing:
        forget(db, missing)
    if unlisted:
        enter_ledger(db, unlisted)
    return LedgerRepair(missing, unlisted, False)


def _row_sums(db: Connection) -> list[tuple[Any, bool]]:
    """(id, whether its checksum holds) of every snapshot row."""
    return [(row[0], rows.row_sum("snapshots", row[:-1]) == row[-1]) for row in db.query(
        f"SELECT {rows.checked_columns('snapshots')} FROM snapshots", lenient=True)]


def pre_snapshot_top(db: Connection) -> int:
    """The highest briefs.id among the versions stored before the archive had snapshots. No
    snapshot ever held them, so no policy forgot them, and prune keeps them all (it took
    them for versions of forgotten snapshots: an upgraded format-4 archive lost its history
    to the first `forget --prune`). The caller holds a write transaction and calls this
    before it forgets anything: an archive upgraded by a briefmin that set no mark gets one
    here."""
    top = _marked_top(db)
    if top is None:
        top = _unmarked_top(db)
        schema.write_meta(db, {schema.PRE_SNAPSHOT_TOP: top})
    return top


def _marked_top(db: Connection) -> int | None:
    row = db.one("SELECT value FROM meta WHERE key = ?", (schema.PRE_SNAPSHOT_TOP,))
    if row is None:
        return None
    top = schema.pre_snapshot_top_value(row[0])
    if top is None:
        raise IntegrityError(f"{db.path}: archive metadata is damaged "
                             f"({schema.PRE_SNAPSHOT_TOP}); run `briefmin verify`")
    return top


def _unmarked_top(db: Connection) -> int:
    # Unmarked: the versions no snapshot holds that are no path's latest and were stored
    # before the oldest snapshot left was recorded (its `top`) predate snapshots, or were
    # held only by snapshots forgotten without --prune; keeping both is the safe side.
    # With no snapshot left, every such version is kept.
    oldest = db.one("SELECT top FROM snapshots ORDER BY id LIMIT 1")
    latest = {i for i, _ in catalogue.latest_briefs(db).values()}
    held = held_briefs(db)
    limit = oldest[0] if oldest is not None and isinstance(oldest[0], int) else None
    return max((int(i) for (i,) in db.query("SELECT id FROM briefs")
                if int(i) not in latest and int(i) not in held
                and (limit is None or int(i) <= limit)), default=0)


def next_brief_id(db: Connection) -> int:
    """The briefs.id a new version gets: above `pre_snapshot_top` too. After `rm` of the
    highest versions MAX(id) + 1 would give an id at or below the mark again, and prune
    would keep that version for ever."""
    row = db.one("SELECT value FROM meta WHERE key = ?", (schema.PRE_SNAPSHOT_TOP,))
    top = schema.pre_snapshot_top_value(row[0]) if row is not None else None
    return max(rows.next_id(db, "briefs"), (top or 0) + 1)


def merged_pre_snapshot(db: Connection) -> set[int]:
    """The briefs.id of the versions a merge brought from an archive where no snapshot
    could hold them (`never_in_a_snapshot`; table `pre_snapshot_versions`): prune keeps
    them, as it keeps this archive's own versions up to `pre_snapshot_top`."""
    if db.version < schema.MERGED_PRE_SNAPSHOT:
        return set()
    return {int(i) for (i,) in db.query("SELECT brief_id FROM pre_snapshot_versions")}


def mark_merged_pre_snapshot(db: Connection, ids: Iterable[int]) -> None:
    """Add these briefs.id to `merged_pre_snapshot`. The caller holds a write transaction,
    the one that stores those versions: a merge stopped between two batches leaves none of
    its versions unmarked."""
    rows.put_many(db, "pre_snapshot_versions", [(i,) for i in ids])


def unmark_merged_pre_snapshot(db: Connection, ids: Sequence[int]) -> None:
    """Take these briefs.id out of `merged_pre_snapshot` (a merge, once the snapshots that
    hold them are carried). The caller holds a write transaction."""
    db.executemany("DELETE FROM pre_snapshot_versions WHERE brief_id = ?",
                   [(i,) for i in ids])


def never_in_a_snapshot(db: Connection) -> set[tuple[str, int]]:
    """The (path, version) of an archive read by `merge` that no snapshot of it could hold:
    every version in an archive without snapshots; else those up to its `pre_snapshot_top`
    (worked out, not written, when unmarked: a merge input is only read) and those its own
    merges brought so. Carried over without a mark, prune would take them for versions of
    forgotten snapshots and delete them."""
    versions = db.query("SELECT id, path, version FROM briefs")
    if not present(db):
        return {(str(p), int(v)) for _, p, v in versions}
    top = _marked_top(db)
    top = _unmarked_top(db) if top is None else top
    merged = merged_pre_snapshot(db)
    return {(str(p), int(v)) for i, p, v in versions if int(i) <= top or int(i) in merged}


def held_briefs(db: Connection) -> set[int]:
    """The briefs.id of every version some snapshot holds."""
    if not present(db):
        return set()
    return {int(b) for (b,) in db.query("SELECT DISTINCT brief_id FROM snapshot_spans")}


def miscounted(db: Connection, skip: Set[int] = frozenset()) -> list[tuple[int, int, int]]:
    """(id, files its row lists, files its entries hold) of each snapshot whose entries do
    not add up to its row. Every row carries a checksum, but a deleted entry leaves none to
    fail: its version would look held by no snapshot, and prune would delete it. `add`
    writes both in one transaction and `rm` counts again (`_recount`), so they agree; a
    row whose values are damaged is left to its checksum, and so are the chains in `skip`
    (verify: a span of theirs fails its checksum, which is the finding)."""
    if not present(db):
        return []
    listed: dict[int, dict[int, int]] = {}
    for snapshot_id, chain, files in db.query("SELECT id, chain, files FROM snapshots"):
        if all(isinstance(v, int) for v in (snapshot_id, chain, files)) and chain not in skip:
            listed.setdefault(chain, {})[snapshot_id] = files
    out = []
    for chain, files in listed.items():
        order = sorted(files)
        held = _covering(order, db.query(
            "SELECT s.first, s.last FROM snapshot_spans s JOIN briefs b ON b.id = s.brief_id "
            "WHERE s.chain = ?", (chain,)))
        out += [(i, files[i], count) for i, (count, _) in zip(order, held, strict=True)
                if count != files[i]]
    return out


def drop_missing_briefs(db: Connection) -> None:
    """Take deleted brief rows (`rm`, prune) out of every snapshot, and count the files and
    bytes of the snapshots that held them again (see `_recount`); and drop their marks
    (`merged_pre_snapshot`): a new version may get a deleted one's id, and a mark left
    behind would keep it from every prune. The caller holds a write transaction."""
    if db.version >= schema.MERGED_PRE_SNAPSHOT:
        db.execute("DELETE FROM pre_snapshot_versions WHERE brief_id NOT IN "
                   "(SELECT id FROM briefs)")
    if not present(db):
        return
    missing = "FROM snapshot_spans WHERE brief_id NOT IN (SELECT id FROM briefs)"
    dropped = db.query(f"SELECT chain, first, last {missing}")
    if not dropped:
        return
    db.execute(f"DELETE {missing}")
    spans: dict[int, list[tuple[int, int | None]]] = {}
    for chain, first, last in dropped:
        spans.setdefault(chain, []).append((first, last))
    affected: dict[int, list[int]] = {}
    for chain, gone in spans.items():
        order = sorted(i for (i,) in db.query("SELECT id FROM snapshots WHERE chain = ?",
                                              (chain,)))
        covered = _covering(order, gone)
        affected[chain] = [i for k, i in enumerate(order) if covered[k][0]]
    _recount(db, affected)


def _covering(order: list[int], spans: Iterable[tuple[int, int | None, int]] |
              Iterable[tuple[int, int | None]]) -> list[tuple[int, int]]:
    """For each snapshot id of `order` (sorted), how many of these spans (first, last[,
    size]) cover it and the sum of their sizes: one sweep, not a scan per snapshot."""
    count, size = [0] * (len(order) + 1), [0] * (len(order) + 1)
    for first, last, *rest in spans:
        low = bisect.bisect_left(order, first)
        high = len(order) if last is None else bisect.bisect_right(order, last)
        n = rest[0] if rest and isinstance(rest[0], int) else 0  # (a damaged size: 0)
        count[low] += 1
        count[high] -= 1
        size[low] += n
        size[high] -= n
    out, held, total = [], 0, 0
    for k in range(len(order)):
        held, total = held + count[k], total + size[k]
        out.append((held, total))
    return out


def _recount(db: Connection, affected: dict[int, list[int]]) -> None:
    """Put the rows of these snapshots (chain -> sorted ids) again with the files and bytes the
    spans that still cover them hold: a snapshot lists what `ls --snapshot` and `restore
    --snapshot` give, not versions `rm` removed since. One read of each chain's spans (a
    sweep over the snapshot ids), not one per snapshot. A snapshot row that already fails
    its checksum is left as it is: putting it again would hide the damage from `verify`.
    Its added/changed/deleted counts stay those of its `add` run."""
    columns = ", ".join(rows.COLUMNS["snapshots"])
    for chain, order in affected.items():
        held = _covering(order, db.query(
            "SELECT s.first, s.last, c.size FROM snapshot_spans s JOIN briefs b "
            "ON b.id = s.brief_id JOIN contents c ON c.id = b.content WHERE s.chain = ?",
            (chain,)))
        for snapshot_id, (files, total) in zip(order, held, strict=True):
            row = db.one(f"SELECT {columns}, checksum FROM snapshots WHERE id = ?",
                         (snapshot_id,))
            if row is not None and rows.row_sum("snapshots", row[:-1]) == row[-1]:
                rows.put(db, "snapshots", (*row[:6], files, total, *row[8:-1]))


def totals(db: Connection) -> dict[str, int]:
    """Counts for `info`."""
    if not present(db):
        return {"snapshots": 0, "snapshot_spans": 0}
    (count,), = db.query("SELECT COUNT(*) FROM snapshots")
    (spans,), = db.query("SELECT COUNT(*) FROM snapshot_spans")
    return {"snapshots": int(count), "snapshot_spans": int(spans)}
