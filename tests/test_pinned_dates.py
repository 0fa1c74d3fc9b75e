"""The most date-sensitive paths at the clocks that break them: midnight on the 1st, both DST
changes, 29 February and year end in UTC+14, plus whatever BREAKOUT_TEST_NOW pins the suite to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from bot.timeutil import clock_time, nightly_period, push_month, utc_now
from pipeline.importers import read_history
from pipeline.periods import add_months, month_of, month_start
from pipeline.rebuild import plan_rebuild
from pipeline.simulate import simulate_listener
from tests.conftest import SUITE_NOW
from tests.shapes import write_ghan

NO_FEEDBACK = pd.DataFrame(
    {
        "artist_key": pd.Series(dtype=object),
        "month": pd.Series(dtype=object),
        "verdict": pd.Series(dtype="int64"),
    }
)
CLOCKS = [
    pytest.param("2026-11-01T00:00:00", "Europe/Berlin", id="first_of_month_0000_berlin"),
    pytest.param("2026-03-29T03:30:00", "Europe/Berlin", id="dst_spring_berlin"),
    pytest.param("2026-10-25T02:30:00", "Europe/Berlin", id="dst_autumn_berlin_repeated_hour"),
    pytest.param("2024-02-29T00:30:00", "Pacific/Kiritimati", id="leap_day_utc_plus_14"),
    pytest.param("2026-12-31T23:30:00", "Pacific/Kiritimati", id="year_end_utc_plus_14"),
    pytest.param(SUITE_NOW.isoformat(), "UTC", id="suite_clock"),
]


def _instant(local: str, tz: str) -> datetime:
    value = datetime.fromisoformat(local)
    return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))).astimezone(UTC)


@pytest.mark.parametrize(("local", "tz"), CLOCKS)
def test_rebuild_months_follow_the_owners_clock(local: str, tz: str) -> None:
    now = _instant(local, tz)
    month = month_of(int(now.timestamp()), tz)
    scrobbles = simulate_listener(31, 14, now)
    result = plan_rebuild(scrobbles, NO_FEEDBACK, None, int(now.timestamp()), tz)
    status = result.status
    assert status["month"].unique().tolist() == [month]
    assert result.scored.month == add_months(month, -1)
    # a 30-day window belongs to the month it ends in (at midnight on the 1st: the last one)
    window_month = month_of(int(now.timestamp()) - 1, tz)
    trailing = result.scored.candidates
    assert set(trailing.loc[trailing["window"] == "trailing", "month"]) == {window_month}
    so_far = np.count_nonzero(scrobbles["ts"].to_numpy() >= month_start(month, tz))
    assert status["month_total"].unique().tolist() == [so_far]
    assert (status["plays_needed"] >= 1).all() and (status["plays_month"] <= so_far).all()


@pytest.mark.parametrize(("local", "tz"), CLOCKS)
def test_schedule_slots_around_the_clock(local: str, tz: str) -> None:
    now = _instant(local, tz).astimezone(ZoneInfo(tz))
    month = f"{now:%Y-%m}"
    at_nine, at_three = clock_time("09:00"), clock_time("03:00")
    pushed = push_month(now, at_nine)
    assert pushed == add_months(month, -2 if now.day == 1 and now.hour < 9 else -1)
    nightly = datetime.fromisoformat(nightly_period(now, at_three)).date()
    assert nightly in (now.date(), now.date() - timedelta(days=1))
    assert (nightly == now.date()) == (now.time() >= at_three)


def test_the_suite_clock_is_pinned(suite_now: datetime) -> None:
    """Production code reads the pinned clock, not today (it runs on from the pinned instant)."""
    assert suite_now == SUITE_NOW
    assert timedelta(0) <= utc_now() - suite_now < timedelta(minutes=5)


def test_import_bounds_times_by_the_callers_clock(tmp_path: Path) -> None:
    """A scrobble 10 days after the caller's now is implausible, whatever today is."""
    now = datetime(2031, 5, 1, tzinfo=UTC)
    frame = simulate_listener(32, 1, now + timedelta(days=10))
    path = write_ghan(frame, tmp_path / "late.csv")
    early = read_history(path, now=now.timestamp())
    assert len(early.frame) < len(frame) and early.frame["ts"].max() <= now.timestamp() + 86_400
    assert len(read_history(path, now=(now + timedelta(days=11)).timestamp()).frame) == len(frame)
