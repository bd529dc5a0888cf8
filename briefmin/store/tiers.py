"""Tiers of quality (`briefmin tier`, issue 16): which contents are old enough to keep coarser
rescoring codes, and re-encoding their vector rows (segments.retier does the rewrite).

A content is *old* when every brief version holding it
- is not the latest version of its path,
- is not held by the latest snapshot of any chain (the newest snapshot of each host and
  roots: what a restore of "last night" gives), and
- was stored (`briefs.added`) at or before the cutoff (now minus --older-than).
Only old contents are re-encoded: what search and dedupe see first (latest versions, the
current state of every folder) keeps its int8 codes. Codes only get coarser here: a row already
at the wanted tier or below stays as it is. No model is loaded: 4-bit codes are re-quantized
from the stored int8 ones, and binary rows simply lose their rescoring codes. (`add` encodes a
coarse content again when a path's new version holds it: Archive.coarse_contents.)"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import UsageError
from . import catalogue, schema, segments
from . import snapshots as snaps
from .connection import Connection

# --codes: bits per dimension of the rescoring codes old rows keep
TIER_CODES = {"small": 4, "binary": 0}


@dataclass(frozen=True)
class TierReport:
    codes: str
    cutoff: datetime
    contents: int  # old contents with rows to re-encode
    rows: int  # vector rows re-encoded (or that would be, in a dry run)
    code_bytes_before: int  # bytes of those rows' rescoring codes before
    code_bytes_after: int  # and after
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "codes": self.codes,
                "cutoff": self.cutoff.isoformat(), "contents": self.contents,
                "rows": self.rows, "code_bytes_before": self.code_bytes_before,
                "code_bytes_after": self.code_bytes_after}


def bits_of(codes: str) -> int:
    if codes not in TIER_CODES:
        raise UsageError(f"unknown --codes {codes!r}; choose one of {', '.join(TIER_CODES)}")
    return TIER_CODES[codes]


def old_contents(db: Connection, cutoff: datetime) -> set[int]:
    """The contents every brief of which is old (see the module's docstring)."""
    recent = {i for i, _ in catalogue.latest_briefs(db).values()} | newest_snapshot_briefs(db)
    limit = int(cutoff.astimezone(UTC).timestamp())
    old: set[int] = set()
    young: set[int] = set()
    for brief_id, content, added in db.iterate(
            "SELECT b.id, b.content, t.time FROM briefs b LEFT JOIN times t ON t.id = b.added"):
        # a time that cannot be read (verify names it) counts as recent: its codes are kept
        if int(brief_id) in recent or not isinstance(added, int) or added > limit:
            young.add(int(content))
        else:
            old.add(int(content))
    return old - young


def newest_snapshot_briefs(db: Connection) -> set[int]:
    """briefs.id of every version the newest snapshot of some chain holds: newest in time
    (what restoring "last night" gives, also after a run dated back with `--time`) and the
    last recorded."""
    if not snaps.present(db):
        return set()
    return {b for snapshot_id, chain in snaps.newest_per_chain(db)
            for b in snaps.held_by(db, chain, snapshot_id)}


def tier(db: Connection, codes: str, cutoff: datetime, *, dry_run: bool,
         only: Set[int] | None = None) -> TierReport:
    """Re-encode the rows of old contents (or of the contents `only` names, whatever their
    age: benchmarks pick them) to the `codes` tier, or only count them in a dry run.
    Writing, the caller holds a write transaction."""
    bits = bits_of(codes)
    meta = schema.read_meta(db)
    if not meta.dim:
        old: Set[int] = set()
    else:
        old = old_contents(db, cutoff) if only is None else only
    contents, rows, before, after = segments.tier_counts(db, meta, old, bits)
    if rows and not dry_run:
        segments.retier(db, meta, old, bits)
    return TierReport(codes, cutoff, contents, rows, before, after, dry_run)
