"""The one place for time: UTC now, the owner's months, month names and month arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; every stored one is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def month_of(moment: datetime | date) -> str:
    """'YYYY-MM' of a date or an (already localised) datetime."""
    return f"{moment.year:04d}-{moment.month:02d}"


def add_months(month: str, n: int) -> str:
    """'2026-11' + 2 -> '2027-01'."""
    year, mon = (int(part) for part in month.split("-"))
    index = year * 12 + mon - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_between(earlier: str, later: str) -> int:
    """Whole calendar months from `earlier` to `later` ('2026-10', '2026-12' -> 2)."""
    (y1, m1), (y2, m2) = ((int(p) for p in m.split("-")) for m in (earlier, later))
    return (y2 - y1) * 12 + m2 - m1


def month_name(month: str) -> str:
    """'2026-10' -> 'October 2026' (anything else is returned unchanged)."""
    try:
        return datetime.strptime(month, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return month


def month_start(month: str, tz: tzinfo) -> datetime:
    """The first instant of `month` in the owner's time zone (aware)."""
    year, mon = (int(part) for part in month.split("-"))
    return datetime(year, mon, 1, tzinfo=tz)


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
    current = month_of(local_now)
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
