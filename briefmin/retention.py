"""Which snapshots a retention policy keeps: restic's `forget` rules, on times and tags alone.

A port of restic's `ApplyPolicy` (internal/data/snapshot_policy.go): snapshots are walked
newest first; each --keep-last/-hourly/-daily/-weekly/-monthly/-yearly N keeps the newest
snapshot of each of the N most recent hours/days/ISO weeks/months/years that have snapshots
(N = -1: all of them), and when a rule still has room at the oldest snapshot it keeps that one
too ("oldest daily snapshot"). --keep-within keeps everything newer than the newest snapshot
(that is not in the future) minus the duration; --keep-within-hourly/-daily/-weekly/-monthly/
-yearly DURATION keep the newest snapshot of each hour/day/... among those newer than that
(and the oldest snapshot of all when it is among them, as restic does); --keep-tag keeps
snapshots holding all the tags of a comma-separated list. A snapshot kept by any rule stays.
Calendar fields are those of each snapshot's own UTC offset, as restic reads its snapshots'
local times; --keep-within's calendar part is counted in the machine's local time when the
newest snapshot is written in it, as Go's AddDate does.

No SQL and no archive here: tests check it against restic's own golden files."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from .errors import UsageError

T = TypeVar("T")

_DURATION_PART = re.compile(r"(-?\d+)([ymdh])")  # a sign is parsed to be refused by name


@dataclass(frozen=True)
class Duration:
    """restic's duration: years, months, days and hours, written like 1y2m3d4h."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str, option: str = "duration") -> Duration:
        """`text` as a duration; a `UsageError` naming `option` if it is not one."""
        text = text.strip()
        parts: dict[str, int] = {}
        position = 0
        for match in _DURATION_PART.finditer(text):
            if match.start() != position:
                break
            parts[match.group(2)] = int(match.group(1))
            position = match.end()
        if not text or position != len(text):
            raise UsageError(f"{option} {text!r}: write it like 7d, 2m, 1y6m or 12h "
                             "(y years, m months, d days, h hours)")
        # a negative duration reaches past the newest snapshot: --keep-within -1d would
        # keep nothing, the opposite of what any rule means
        if any(n < 0 for n in parts.values()):
            raise UsageError(f"{option} {text!r}: a duration cannot be negative")
        return cls(parts.get("y", 0), parts.get("m", 0), parts.get("d", 0), parts.get("h", 0))

    def __str__(self) -> str:
        return "".join(f"{n}{unit}" for n, unit in ((self.years, "y"), (self.months, "m"),
                                                    (self.days, "d"), (self.hours, "h")) if n)

    @property
    def zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours)

    def before(self, moment: datetime) -> datetime:
        """`moment` minus this duration, with Go's AddDate normalization (31 March minus a
        month is 3 March, as restic computes it). The calendar part is counted in the
        machine's local time when `moment` is written in it (its offset is the local one
        then), as Go does for a time it read in the local zone: a day back from the night
        after the autumn clock change is 25 hours (`_local_wall`); the hours are hours."""
        months = moment.year * 12 + moment.month - 1 - self.years * 12 - self.months
        year, month = divmod(months, 12)
        try:
            first = moment.replace(year=year, month=month + 1, day=1)
            wall = first + timedelta(days=moment.day - 1 - self.days)
        except (ValueError, OverflowError):  # before year 1: as far back as time goes
            return datetime.min.replace(tzinfo=moment.tzinfo)
        local = _local_wall(moment, wall)
        return (wall if local is None else local) - timedelta(hours=self.hours)


def _local_offset(instant: float) -> int | None:
    """The machine's local UTC offset, in seconds, at a POSIX time (None: out of range)."""
    try:
        return time.localtime(instant).tm_gmtoff
    except (OverflowError, OSError, ValueError):
        return None


def _local_wall(moment: datetime, wall: datetime) -> datetime | None:
    """`wall` (a calendar date and clock time shifted from `moment`'s) as the instant Go's
    time.Date gives it in the machine's local zone, when `moment` is written in that zone
    (its offset is the local one then); None otherwise. Go takes the offset in force at the
    wall time read as UTC, or, when the instant that gives is outside that offset's span,
    the offset at that instant (a wall time in the spring gap or the autumn overlap)."""
    offset = moment.utcoffset()
    if offset is None or _local_offset(moment.timestamp()) != offset.total_seconds():
        return None
    unix = (wall.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    guess = _local_offset(unix)
    if guess is None:
        return None
    if _local_offset(unix - guess) != guess:
        guess = _local_offset(unix - guess)
        if guess is None:
            return None
    return datetime.fromtimestamp(unix - guess, UTC).astimezone(moment.tzinfo)


@dataclass(frozen=True)
class Policy:
    """The --keep-* flags of `forget`; counts of -1 mean "all"."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration = Duration()
    tags: tuple[tuple[str, ...], ...] = ()
    # --keep-within-hourly/-daily/-weekly/-monthly/-yearly: the newest snapshot of each
    # hour/day/... among those newer than the newest minus the duration
    within_hourly: Duration = Duration()
    within_daily: Duration = Duration()
    within_weekly: Duration = Duration()
    within_monthly: Duration = Duration()
    within_yearly: Duration = Duration()

    @property
    def _withins(self) -> tuple[tuple[Duration, str], ...]:
        return ((self.within_hourly, "hourly"), (self.within_daily, "daily"),
                (self.within_weekly, "weekly"), (self.within_monthly, "monthly"),
                (self.within_yearly, "yearly"))

    @property
    def empty(self) -> bool:
        return not self.tags and self.within.zero and not any(
            (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        ) and all(d.zero for d, _ in self._withins)

    def describe(self) -> str:
        counts = [f"{'all' if n == -1 else n} {name}" for n, name in (
            (self.last, "latest"), (self.hourly, "hourly"), (self.daily, "daily"),
            (self.weekly, "weekly"), (self.monthly, "monthly"), (self.yearly, "yearly")) if n]
        out = ", ".join(counts) + (" snapshots" if counts else "")
        within = [f"{name} snapshots within {d}" for d, name in self._withins if not d.zero]
        if within:
            out += (", " if out else "") + ", ".join(within)
        if self.tags:
            out += (" and " if out else "") + "all snapshots with tags " + " or ".join(
                ",".join(t) for t in self.tags)
        if not self.within.zero:
            out += (" and " if out else "") + f"all snapshots within {self.within} of the newest"
        return "keep " + out if out else "remove"


@dataclass
class Decision(Generic[T]):
    """One snapshot's fate and the rules that kept it (none: it is forgotten)."""

    item: T
    reasons: list[str] = field(default_factory=list)

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


def _hour(t: datetime, _: int) -> int:
    return t.year * 1000000 + t.month * 10000 + t.day * 100 + t.hour


def _day(t: datetime, _: int) -> int:
    return t.year * 10000 + t.month * 100 + t.day


def _week(t: datetime, _: int) -> int:
    year, week, _weekday = t.isocalendar()
    return year * 100 + week


def _month(t: datetime, _: int) -> int:
    return t.year * 100 + t.month


def _year(t: datetime, _: int) -> int:
    return t.year


def _each(_: datetime, position: int) -> int:
    return position


def _tag_list(tags: Sequence[str]) -> str:
    return "[" + ", ".join(tags) + "]"  # how restic prints a TagList in its reasons


def has_tags(held: Sequence[str], wanted: Sequence[str]) -> bool:
    """restic's HasTags: every wanted tag is held; an empty wanted tag matches no tags."""
    return all((tag == "" and not held) or tag in held for tag in wanted)


def apply_policy(items: Sequence[T], policy: Policy, *, time: Callable[[T], datetime],
                 tags: Callable[[T], Sequence[str]], now: datetime | None = None
                 ) -> list[Decision[T]]:
    """One decision per item, newest first (ties keep their given order, as restic's stable
    sort does)."""
    ordered = sorted(items, key=time, reverse=True)
    if not ordered:
        return []
    now = now or datetime.now(UTC)
    # restic measures --keep-within from the newest snapshot that is not in the future
    past = [time(item) for item in ordered if time(item) < now]
    newest = max(past) if past else None
    buckets: list[tuple[str, Callable[[datetime, int], int], list[int]]] = []
    rules: list[tuple[int, Callable[[datetime, int], int], str]] = [
        (policy.last, _each, "last snapshot"), (policy.hourly, _hour, "hourly snapshot"),
        (policy.daily, _day, "daily snapshot"), (policy.weekly, _week, "weekly snapshot"),
        (policy.monthly, _month, "monthly snapshot"), (policy.yearly, _year, "yearly snapshot")]
    for count, key, reason in rules:
        buckets.append((reason, key, [count, -1]))  # [room left, last bucket value]
    # the --keep-within-* rules: the newest of each period among the snapshots after the
    # newest minus the duration (no count); their reasons name the duration
    keys = {"hourly": _hour, "daily": _day, "weekly": _week, "monthly": _month,
            "yearly": _year}
    # (no snapshot in the past: restic's newest is the zero time, and every one is within)
    withins = [(f"{name} within {duration}", duration.before(newest) if newest else None,
                keys[name], [-1]) for duration, name in policy._withins if not duration.zero]
    decisions = []
    for position, item in enumerate(ordered):
        moment = time(item)
        decision = Decision(item)
        for wanted in policy.tags:
            if has_tags(tags(item), wanted):
                decision.reasons.append(f"has tags {_tag_list(wanted)}")
        if not policy.within.zero and (newest is None or moment > policy.within.before(newest)):
            decision.reasons.append(f"within {policy.within}")
        oldest = position == len(ordered) - 1
        for reason, bucket, state in buckets:
            room, last = state
            if room > 0 or room == -1:
                value = bucket(moment, position)
                if value != last or oldest:
                    decision.reasons.append(f"oldest {reason}" if value == last else reason)
                    state[1] = value
                    if room > 0:
                        state[0] = room - 1
        for reason, since, bucket, seen in withins:
            if since is None or moment > since:
                value = bucket(moment, position)
                if value != seen[0] or oldest:
                    decision.reasons.append(f"oldest {reason}" if value == seen[0] else reason)
                    seen[0] = value
        decisions.append(decision)
    return decisions
