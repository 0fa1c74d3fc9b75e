"""Time and months have one home (pipeline.periods); the bot and the API use it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.api.state import owner_months
from bot.timeutil import as_utc, push_month
from pipeline.periods import add_months, label_codes, month_code, month_label, month_labels


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
