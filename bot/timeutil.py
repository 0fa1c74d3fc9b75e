"""The bot's time helpers: UTC now, stored times, month names, schedule slots, durations.

Month arithmetic (`month_of`, `add_months`, `month_start`, ...) has one home,
`pipeline.periods`; this module uses it and does not define its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import overload

from pipeline.periods import add_months

Clock = Callable[[], datetime]


def _system_clock() -> datetime:
    return datetime.now(UTC)


_clock: Clock = _system_clock


def utc_now() -> datetime:
    """Aware current UTC time: the one clock every "now" of the process reads."""
    return _clock()


def unix_now() -> float:
    """utc_now() in Unix seconds."""
    return utc_now().timestamp()


def set_clock(clock: Clock | None) -> None:
    """Make `clock` the process's clock (None: the system's); tests pin it this way."""
    global _clock
    _clock = clock or _system_clock


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; every stored one is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def month_name(month: str) -> str:
    """'2026-10' -> 'October 2026' (anything else is returned unchanged)."""
    try:
        return datetime.strptime(month, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return month


def short_date(moment: datetime | None, tz: tzinfo = UTC) -> str:
    """'3 Nov' in the owner's zone ('3 Nov 2024' when not this year); '-' for None."""
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    if local.year == utc_now().astimezone(tz).year:
        return f"{local.day} {local:%b}"
    return f"{local.day} {local:%b %Y}"


def clock_time(hhmm: str) -> time:
    """time() of a validated "HH:MM" setting."""
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def nightly_period(local_now: datetime, at: time) -> str:
    """Local date (YYYY-MM-DD) of the most recent nightly slot at or before `local_now`."""
    day = local_now.date()
    if local_now.time() < at:
        day -= timedelta(days=1)
    return day.isoformat()


def push_month(local_now: datetime, at: time) -> str:
    """The owner's month (YYYY-MM) whose push slot (next month's day 1 at `at`) came last."""
    current = f"{local_now:%Y-%m}"  # the wall-clock month of an already local time
    if local_now.day == 1 and local_now.time() < at:
        return add_months(current, -2)
    return add_months(current, -1)


def in_words(seconds: float) -> str:
    """'about 2 min', 'under a minute', 'about 1 h 10 min'."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"
