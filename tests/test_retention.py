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
