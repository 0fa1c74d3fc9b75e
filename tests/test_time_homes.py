"""Time and months have one home (pipeline.periods); the bot and the API use it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bot.api.state import owner_months
from bot.timeutil import as_utc, push_month
from pipeline.periods import (
    add_months,
    label_codes,
    month_bounds,
    month_code,
    month_codes,
    month_label,
    month_labels,
    month_of,
    month_start,
    plays_per_month,
)


def _ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_scalar_and_vectorized_month_codes_agree() -> None:
    codes = list(range(-30, 1200, 7))
    assert list(month_labels(codes)) == [month_label(c) for c in codes]
    assert (
        list(label_codes(month_labels(codes)))
        == codes
        == [month_code(month_label(c)) for c in codes]
    )
    assert add_months("2026-11", 2) == "2027-01" and add_months("2026-01", -1) == "2025-12"


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026", "October"])
def test_month_code_rejects_what_is_not_a_month(bad: str) -> None:
    with pytest.raises(ValueError):
        month_code(bad)


def test_the_api_counts_the_owners_months() -> None:
    late_october_utc = _ts(2026, 10, 31, 20)  # already 1 November in Sydney
    utc = json.loads(owner_months(late_october_utc, late_october_utc, None))
    sydney = json.loads(owner_months(late_october_utc, late_october_utc, "Australia/Sydney"))
    assert [m for m, _, _ in utc] == ["2026-10"]
    assert [m for m, _, _ in sydney] == ["2026-11"]
    _, lo, hi = sydney[0]
    assert lo <= late_october_utc < hi and lo == _ts(2026, 10, 31, 13)


def test_as_utc_and_push_month() -> None:
    assert as_utc(None) is None
    assert as_utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert push_month(datetime(2026, 12, 1, 9, 0), datetime(2026, 1, 1, 9).time()) == "2026-11"


# Clocks that skip or repeat midnight on a 1st, or jumped by odd amounts: Santiago and Havana
# move at midnight, Kathmandu jumped 15 minutes (1986), Lord Howe moves by 30 minutes,
# Kiritimati skipped a whole day (1994-12-31), Dublin's summer time is its "standard" one.
ODD_CLOCKS = [
    "America/Santiago",
    "America/Havana",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Europe/Dublin",
    "Asia/Tokyo",
    "UTC",
]


@pytest.mark.parametrize("tz", ODD_CLOCKS)
def test_a_month_begins_when_the_owners_clock_first_shows_it(tz: str) -> None:
    info = ZoneInfo(tz)
    for code in range(month_code("1970-02"), month_code("2040-01")):
        month = month_label(code)
        start = month_start(month, tz)
        assert datetime.fromtimestamp(start, info).strftime("%Y-%m") == month
        assert datetime.fromtimestamp(start - 1, info).strftime("%Y-%m") == month_label(code - 1)
        assert month_of(start, tz) == month and month_of(start - 1, tz) == month_label(code - 1)
    first, last = month_code("1985-01"), month_code("1995-12")
    assert month_bounds(first, last, tz).tolist() == [
        month_start(month_label(c), tz) for c in range(first, last + 2)
    ]


@pytest.mark.parametrize("tz", ["America/Santiago", "Australia/Lord_Howe", None])
def test_plays_per_month_counts_as_the_vectorized_months_do(tz: str | None) -> None:
    ts = np.sort(np.random.default_rng(7).integers(_ts(1985, 1, 1), _ts(1996, 1, 1), 5_000))
    until = _ts(1996, 3, 2)
    codes = month_codes(ts, tz)
    counts = np.bincount(codes - codes[0], minlength=month_code(month_of(until, tz)) - codes[0] + 1)
    expected = [(month_label(codes[0] + i), int(n)) for i, n in enumerate(counts)]
    assert plays_per_month(ts.tolist(), until, tz) == expected
    assert plays_per_month([], until, tz) == []
