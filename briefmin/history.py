"""Snapshots as a history of a folder: picking one (id, 'latest', or as of a date), what
changed between two, and which ones a retention policy forgets (briefmin.retention decides,
per group of host and roots, as restic's `forget` groups by default)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any

from .errors import UsageError, printable
from .retention import Decision, Policy, apply_policy
from .store import Archive, Snapshot


def parse_time(text: str, option: str = "--time") -> datetime:
    """An ISO 8601 date or date-time; without a UTC offset it is local time, as `date` shows
    it (so cron's "now" and `--as-of 2026-03-01` mean what the user reads on the clock)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: give an ISO 8601 date or time, like 2026-03-01 "
                         "or 2026-03-01T02:00:00+01:00") from None
    return _countable(lambda: moment if moment.tzinfo else moment.astimezone(), text, option)


def _countable(make: Callable[[], datetime], text: str, option: str) -> datetime:
    """`make()`, refused when it is no time this machine can count: snapshots are kept in
    Unix seconds, so a time must have some."""
    try:
        moment = make()
        moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"{option} {text!r}: out of the range of times this machine can "
                         "count; give a date like 2026-03-01") from None
    return moment


def end_of_day(day: date) -> datetime:
    """The last moment of `day` in local time: the next local midnight less a microsecond.
    (23:59:59 at the day's midnight offset is an hour off on a day the clocks change.)"""
    try:
        midnight = datetime.combine(day + timedelta(days=1), clock()).astimezone()
    except OverflowError:  # 9999-12-31: no next day
        return datetime.combine(day, clock.max).astimezone()
    return (midnight - timedelta(microseconds=1)).astimezone()


def pick(archive: Archive, snapshot: str | None, as_of: str | None) -> Snapshot | None:
    """The snapshot `--snapshot ID|latest` or `--as-of DATE` names (None: neither given).
    A bare date as --as-of means the end of that day."""
    if snapshot is not None and as_of is not None:
        raise UsageError("give --snapshot or --as-of, not both")
    if snapshot is not None:
        return archive.snapshot(snapshot)
    if as_of is None:
        return None
    moment = parse_time(as_of, "--as-of")
    try:  # a date alone, in any form (2026-03-01, 20260301, 2026-W09-7): that day's end
        day = date.fromisoformat(as_of.strip())
    except ValueError:
        # a time names its last unit whole: `snapshots` prints times to the second, and the
        # snapshot taken at 21:47:57.04 missed `--as-of` 21:47:57 as printed (an audit)
        return archive.snapshot_as_of(_countable(  # (the span less 1 µs first: 9999-12-31)
            lambda: moment + (_named_span(as_of) - timedelta(microseconds=1)), as_of,
            "--as-of"))
    return archive.snapshot_as_of(_countable(lambda: end_of_day(day), as_of, "--as-of"))


def _named_span(text: str) -> timedelta:
    """How long the time in an ISO 8601 date-time lasts as written: an hour for `T21`, a
    minute for `T21:47`, a second for `T21:47:57` (or `T214757`), a microsecond (the moment
    itself) with a fraction of a second."""
    # what follows the date, in any of its forms, and the one separator (any character)
    text = text.strip()
    day = re.match(r"\d{4}(?:-?W\d{2}(?:-?\d)?|-?\d{2}-?\d{2}|-?\d{3})?", text)
    time_part = text[day.end() + 1:] if day else ""
    clock_digits = re.split(r"[zZ+-]", time_part)[0]
    if "." in clock_digits or "," in clock_digits:
        return timedelta(microseconds=1)
    return {2: timedelta(hours=1), 4: timedelta(minutes=1)}.get(
        len(clock_digits.replace(":", "")), timedelta(seconds=1))


@dataclass
class Diff:
    before: Snapshot
    after: Snapshot
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"from": self.before.id, "to": self.after.id, "added": self.added,
                "changed": self.changed, "deleted": self.deleted}


def diff(archive: Archive, before: Snapshot, after: Snapshot) -> Diff:
    """Paths added, changed (other bytes) and deleted from `before` to `after`."""
    with archive.reading():  # both from one state: a forget --prune between would show
        old = {r.path: r.sha256 for r in archive.records(snapshot=before)}  # its deletions
        new = {r.path: r.sha256 for r in archive.records(snapshot=after)}
    return Diff(before, after, sorted(new.keys() - old.keys()),
                sorted(p for p in new.keys() & old.keys() if new[p] != old[p]),
                sorted(old.keys() - new.keys()))


def plan_forget(snapshots: list[Snapshot], policy: Policy, *, now: datetime | None = None
                ) -> list[Decision[Snapshot]]:
    """A decision per snapshot, newest first within each group of host and roots."""
    if policy.empty:
        raise UsageError("no policy given: say what to keep (--keep-last N, --keep-daily N, "
                         "...; a count of 0 or a duration of 0 is no rule); nothing was "
                         "forgotten")
    groups: dict[tuple[str, tuple[str, ...]], list[Snapshot]] = {}
    for snapshot in snapshots:
        groups.setdefault((snapshot.host, snapshot.roots), []).append(snapshot)
    decisions: list[Decision[Snapshot]] = []
    for key in sorted(groups):
        # equal times: the later-recorded one counts as newer
        newest_first = sorted(groups[key], key=lambda s: (s.time, s.id), reverse=True)
        group = apply_policy(newest_first, policy, time=lambda s: s.time,
                             tags=lambda s: s.tags, now=now)
        # as restic's forget: a policy that keeps no snapshot of a group is a mistake (a
        # --keep-tag no snapshot holds), never "forget the whole history"; refused before
        # anything is forgotten, so no group is thinned out either
        if not any(d.keep for d in group):
            host, roots = key
            raise UsageError(
                f"refusing to forget every snapshot the policy applies to of host "
                f"{printable(host)}, roots "
                f"{printable(', '.join(roots))}: the policy ({policy.describe()}) keeps none "
                "of its snapshots; check the --keep-* rules (a --keep-tag no snapshot "
                "holds?), or name the snapshot IDs to forget; nothing was forgotten")
        decisions += group
    return decisions
