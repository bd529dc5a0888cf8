"""retention.py against restic's own golden files (tests/golden/restic_policy.json, taken from
restic's internal/data tests) and against a policy worked out by hand on a calendar."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from briefmin.errors import UsageError
from briefmin.retention import Duration, Policy, apply_policy

GOLDEN = json.loads((Path(__file__).parent / "golden" / "restic_policy.json").read_text())
NOW = datetime(2026, 1, 1, tzinfo=UTC)  # after every golden snapshot, as in restic's run


def _time(snapshot: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(snapshot["time"])


def _policy(spec: dict[str, Any]) -> Policy:
    return Policy(**{k: v for k, v in spec.items() if k not in ("within", "tags")},
                  within=Duration.parse(spec["within"]) if "within" in spec else Duration(),
                  tags=tuple(tuple(t) for t in spec.get("tags", ())))


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: c["golden"])
def test_matches_restic_golden_files(case: dict[str, Any]) -> None:
    decisions = apply_policy(GOLDEN["snapshots"], _policy(case["policy"]), time=_time,
                             tags=lambda s: s["tags"], now=NOW)
    kept = [d for d in decisions if d.keep]
    assert [d.item for d in kept] == case["keep"]
    assert [d.reasons for d in kept] == case["matches"]
    assert len(decisions) == len(GOLDEN["snapshots"])


def _nightly(first: date, nights: int) -> list[datetime]:
    return [datetime(first.year, first.month, first.day, 2, 0, tzinfo=UTC) + timedelta(days=n)
            for n in range(nights)]


def test_daily_weekly_monthly_by_hand() -> None:
    # 60 nights, 2026-01-01 (Thursday) .. 2026-03-01 (Sunday), one snapshot at 02:00 each.
    # Worked out on a calendar: daily 7 keeps 23 Feb .. 1 Mar; weekly 4 keeps the newest of
    # ISO weeks 9 (1 Mar, already daily), 8 (22 Feb), 7 (15 Feb), 6 (8 Feb); monthly 3 keeps
    # the newest of March (1 Mar), February (28 Feb), January (31 Jan).
    times = _nightly(date(2026, 1, 1), 60)
    decisions = apply_policy(times, Policy(daily=7, weekly=4, monthly=3), time=lambda t: t,
                             tags=lambda t: (), now=NOW.replace(year=2027))
    kept = {d.item.date(): d.reasons for d in decisions if d.keep}
    assert sorted(kept) == [date(2026, 1, 31), date(2026, 2, 8), date(2026, 2, 15),
                            date(2026, 2, 22)] + [date(2026, 2, 23) + timedelta(days=n)
                                                  for n in range(7)]
    assert kept[date(2026, 3, 1)] == ["daily snapshot", "weekly snapshot", "monthly snapshot"]
    assert kept[date(2026, 2, 28)] == ["daily snapshot", "monthly snapshot"]
    assert kept[date(2026, 1, 31)] == ["monthly snapshot"]


def test_oldest_snapshot_kept_while_a_rule_has_room() -> None:
    times = _nightly(date(2026, 1, 1), 3)
    decisions = apply_policy(times, Policy(monthly=5), time=lambda t: t, tags=lambda t: (),
                             now=NOW.replace(year=2027))
    assert [d.reasons for d in decisions] == [["monthly snapshot"], [],
                                              ["oldest monthly snapshot"]]


def test_duration_parsing() -> None:
    assert Duration.parse("1y2m3d4h") == Duration(1, 2, 3, 4)
    assert str(Duration.parse("1y1d1m")) == "1y1m1d"
    # Go's AddDate normalization: 31 March minus one month is 3 March
    assert Duration(months=1).before(datetime(2026, 3, 31, tzinfo=UTC)) == \
        datetime(2026, 3, 3, tzinfo=UTC)
    for bad in ("", "7", "7w", "d7", "1d 2h"):
        with pytest.raises(UsageError):
            Duration.parse(bad)


def test_a_negative_duration_is_refused_by_the_option_it_came_from() -> None:
    # a negative --keep-within reached past the newest snapshot and so kept nothing
    for bad in ("-1d", "1y-2m", "-0h5d-3h"):
        with pytest.raises(UsageError, match=r"--keep-within '.*': a duration cannot be "
                                             "negative"):
            Duration.parse(bad, "--keep-within")


def test_a_duration_longer_than_the_calendar_reaches_its_start() -> None:
    now = datetime(2026, 3, 31, tzinfo=UTC)
    earliest = datetime.min.replace(tzinfo=UTC)
    assert Duration(years=99_999_999).before(now) == earliest
    assert Duration(days=10**30).before(now) == earliest
    assert Duration(years=2025, months=2, days=30).before(now) == datetime(1, 1, 1,
                                                                          tzinfo=UTC)
    kept = apply_policy(WITHIN_TIMES, Policy(within=Duration(years=99_999_999)),
                        time=lambda t: t, tags=lambda t: (), now=datetime(2026, 4, 1,
                                                                          tzinfo=UTC))
    assert all(d.keep for d in kept)


# an irregular week of snapshots (2026-03-10 is a Tuesday; all in ISO week 11), newest last
WITHIN_TIMES = [datetime(2026, 3, d, h, 0, tzinfo=UTC)
                for d, h in ((10, 2), (10, 14), (11, 2), (11, 14), (12, 2), (13, 2), (13, 14))]


def _kept(policy: Policy) -> dict[datetime, list[str]]:
    decisions = apply_policy(WITHIN_TIMES, policy, time=lambda t: t, tags=lambda t: (),
                             now=datetime(2026, 4, 1, tzinfo=UTC))
    return {d.item: d.reasons for d in decisions if d.keep}


def test_keep_within_daily_keeps_the_newest_of_each_day_in_the_window() -> None:
    """Newest 03-13 14:00; 2d before it is 03-11 14:00, which is not *after* it: the window
    holds 03-12 02:00, 03-13 02:00 and 03-13 14:00, and the newest of each day stays."""
    assert _kept(Policy(within_daily=Duration.parse("2d"))) == {
        datetime(2026, 3, 13, 14, tzinfo=UTC): ["daily within 2d"],
        datetime(2026, 3, 12, 2, tzinfo=UTC): ["daily within 2d"]}


def test_keep_within_hourly_beside_a_count() -> None:
    """Window: after 03-12 14:00, so both snapshots of 03-13 (different hours); --keep-daily
    1 keeps the newest too, and its reasons come first, as restic lists them."""
    assert _kept(Policy(daily=1, within_hourly=Duration.parse("1d"))) == {
        datetime(2026, 3, 13, 14, tzinfo=UTC): ["daily snapshot", "hourly within 1d"],
        datetime(2026, 3, 13, 2, tzinfo=UTC): ["hourly within 1d"]}


def test_keep_within_weekly_keeps_the_oldest_when_it_is_in_the_window() -> None:
    """One ISO week, all inside a year's window: the newest, and the oldest of all (restic
    keeps the last snapshot of the list when a rule matches it)."""
    assert _kept(Policy(within_weekly=Duration.parse("1y"))) == {
        datetime(2026, 3, 13, 14, tzinfo=UTC): ["weekly within 1y"],
        datetime(2026, 3, 10, 2, tzinfo=UTC): ["oldest weekly within 1y"]}
    # monthly and yearly: the same two; an empty window (1h before the newest) keeps one
    assert set(_kept(Policy(within_monthly=Duration.parse("1m")))) == {
        datetime(2026, 3, 13, 14, tzinfo=UTC), datetime(2026, 3, 10, 2, tzinfo=UTC)}
    assert _kept(Policy(within_yearly=Duration.parse("1h"))) == {
        datetime(2026, 3, 13, 14, tzinfo=UTC): ["yearly within 1h"]}


def test_keep_within_rules_are_described_and_count_as_a_policy() -> None:
    policy = Policy(daily=7, within_daily=Duration.parse("7d"),
                    within_weekly=Duration.parse("1m"))
    assert not policy.empty and Policy().empty
    assert policy.describe() == ("keep 7 daily snapshots, daily snapshots within 7d, "
                                 "weekly snapshots within 1m")


@pytest.mark.parametrize(("zone", "kept"), [("Europe/Berlin", 5), ("UTC", 4)])
def test_keep_within_counts_days_in_the_local_time(monkeypatch: pytest.MonkeyPatch,
                                                   zone: str, kept: int) -> None:
    """restic's `newest.AddDate(0, 0, -1)` counts the day in the machine's zone when the
    snapshots are written in it (Go reads such a time as Local): a day back from the night
    after Berlin's autumn change is 25 hours, so 00:45+02:00 is within. briefmin took 24
    hours and forgot it (a session-43 audit, against restic's own code built here). On a
    machine in UTC the offsets are not the local ones: fixed arithmetic, as restic's."""
    import time

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        times = ["2026-10-24T00:30:00+02:00", "2026-10-24T23:30:00+02:00",
                 "2026-10-25T00:45:00+02:00", "2026-10-25T02:30:00+02:00",
                 "2026-10-25T02:40:00+01:00", "2026-10-25T23:30:00+01:00",
                 "2026-10-26T00:30:00+01:00"]
        decisions = apply_policy(times, Policy(within=Duration(days=1)),
                                 time=datetime.fromisoformat, tags=lambda _: ())
        assert sorted(d.item for d in decisions if d.keep) == times[-kept:]
    finally:
        monkeypatch.undo()
        time.tzset()
