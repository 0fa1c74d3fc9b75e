"""Map timestamps to consecutive integer periods: calendar months or trailing windows.

Calendar months are the owner's: midnight on the 1st in a time zone (UTC unless one is given).
This module is the pipeline's one source of month arithmetic.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pipeline.lazy import DeferredModule

if TYPE_CHECKING:
    import numpy as np
else:
    np = DeferredModule("numpy")  # `breakout candidates/status/record` start without numpy

DAY = 86_400
Zone = str | tzinfo | None
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Periods:
    """Per-timestamp period numbers (0 = oldest, -1 = outside) and each period's bounds."""

    index: np.ndarray  # int64 per input timestamp
    start: np.ndarray  # int64 Unix seconds, inclusive, per period
    end: np.ndarray  # int64 Unix seconds, exclusive, per period
    kind: str  # "calendar" or "trailing"
    names: np.ndarray | None = None  # 'YYYY-MM' per period when not the UTC month of its start

    @property
    def n(self) -> int:
        """Number of periods."""
        return len(self.start)

    @property
    def labels(self) -> np.ndarray:
        """'YYYY-MM' of each period (calendar: the local month; trailing: its start, UTC)."""
        return self.names if self.names is not None else _month_labels(self.start)


def zone(tz: Zone) -> tzinfo | None:
    """The time zone object, None for UTC (the fast path)."""
    if tz is None:
        return None
    info = ZoneInfo(tz) if isinstance(tz, str) else tz
    return None if str(info) in ("UTC", "Etc/UTC", "UTC+00:00") else info


def _month_labels(start: np.ndarray) -> np.ndarray:
    months = np.asarray(start, dtype="int64").astype("datetime64[s]").astype("datetime64[M]")
    return np.datetime_as_string(months, unit="M").astype(object)


def month_labels(codes: np.ndarray) -> np.ndarray:
    """'YYYY-MM' (object array) of each month code."""
    months = np.asarray(codes, dtype="int64").astype("datetime64[M]")
    return np.datetime_as_string(months, unit="M").astype(object)


def label_codes(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Month code of each 'YYYY-MM' label (a sequence or Series of strings)."""
    values = np.asarray(labels, dtype=object).astype(str)
    return values.astype("datetime64[M]").astype("int64")


def _as_int64(ts: np.ndarray) -> np.ndarray:
    return np.asarray(ts, dtype="int64")


def month_bounds(first: int, last: int, tz: Zone = None) -> np.ndarray:
    """Unix seconds of midnight on the 1st of month codes first..last+1 (months since 1970-01)."""
    info = zone(tz)
    if info is None:
        codes = np.arange(first, last + 2, dtype="int64").astype("datetime64[M]")
        return codes.astype("datetime64[s]").astype("int64")
    return np.array([_month_begins(c, info) for c in range(first, last + 2)], dtype="int64")


def _wall(code: int) -> datetime:
    years, month = divmod(int(code), 12)
    return datetime(1970 + years, month + 1, 1)


def _local(ts: int, info: tzinfo) -> datetime:
    return datetime.fromtimestamp(ts, info).replace(tzinfo=None)


def _month_begins(code: int, info: tzinfo | None) -> int:
    """Unix seconds when month `code` begins on the owner's clock: midnight on the 1st (its
    first occurrence when the clock shows it twice; the end of the jump when a change of offset
    skips it). Plain Python: the reading commands start without numpy or pandas."""
    wall = _wall(code)
    if info is None:
        return (wall - EPOCH) // timedelta(seconds=1)
    after = int(wall.replace(tzinfo=info).timestamp())  # fold 0: the earlier one, or past a jump
    if _local(after, info) == wall:
        return after
    before = int(wall.replace(tzinfo=info, fold=1).timestamp())  # before the jump
    while after - before > 1:  # the second the clock jumps
        middle = (before + after) // 2
        if _local(middle, info) < wall:
            before = middle
        else:
            after = middle
    return after


def _month_code_of(ts: int, info: tzinfo | None) -> int:
    day = EPOCH + timedelta(seconds=int(ts))
    code = (day.year - 1970) * 12 + day.month - 1
    if info is None:
        return code
    if ts < _month_begins(code, info):  # offsets are under a month: one month either way
        return code - 1
    return code + 1 if ts >= _month_begins(code + 1, info) else code


def month_codes(ts: np.ndarray, tz: Zone = None) -> np.ndarray:
    """Month code (months since 1970-01) of each timestamp in the owner's time zone."""
    values = _as_int64(ts)
    utc = values.astype("datetime64[s]").astype("datetime64[M]").astype("int64")
    if zone(tz) is None or len(values) == 0:
        return utc
    first, last = int(utc.min()) - 1, int(utc.max()) + 1  # offsets are under a month
    bounds = month_bounds(first, last, tz)
    return first + np.searchsorted(bounds, values, side="right") - 1


def month_of(ts: int, tz: Zone = None) -> str:
    """'YYYY-MM' of the month containing `ts` in the owner's time zone."""
    return month_label(_month_code_of(int(ts), zone(tz)))


def plays_per_month(ts: Sequence[int], until: int, tz: Zone = None) -> list[tuple[str, int]]:
    """('YYYY-MM', count) of the sorted timestamps `ts` per month in the owner's time zone, from
    the first one's month to `until`'s (or the last one's), months without any included."""
    if not ts:
        return []
    info = zone(tz)
    first = _month_code_of(ts[0], info)
    last = max(_month_code_of(ts[-1], info), _month_code_of(int(until), info))
    edges = [bisect_left(ts, _month_begins(c, info)) for c in range(first, last + 2)]
    return [(month_label(first + i), edges[i + 1] - edges[i]) for i in range(last - first + 1)]


def month_label(code: int) -> str:
    """'YYYY-MM' of a month code (months since 1970-01)."""
    years, month = divmod(int(code), 12)
    return f"{1970 + years:04d}-{month + 1:02d}"


def month_code(month: str) -> int:
    """Month code of 'YYYY-MM' (ValueError for anything else)."""
    year, mon = (int(part) for part in month.split("-"))
    if not 1 <= mon <= 12:
        raise ValueError(f"not a month: {month!r}")
    return (year - 1970) * 12 + mon - 1


def add_months(month: str, n: int) -> str:
    """'YYYY-MM' n months after (or before, n < 0) `month`: '2026-11' + 2 -> '2027-01'."""
    return month_label(month_code(month) + n)


def month_start(month: str, tz: Zone = None) -> int:
    """Unix seconds of midnight on the 1st of `month` in the owner's time zone."""
    return _month_begins(month_code(month), zone(tz))


def last_complete_month(now: int, tz: Zone = None) -> str:
    """'YYYY-MM' of the month before the one containing `now` (owner's time zone)."""
    return add_months(month_of(int(now), tz), -1)


def calendar_periods(ts: np.ndarray, end: int | None = None, tz: Zone = None) -> Periods:
    """Calendar months from the first timestamp's month to the last one's (or `end`'s)."""
    values = _as_int64(ts)
    if len(values) == 0:
        empty = np.zeros(0, dtype="int64")
        return Periods(index=empty, start=empty, end=empty, kind="calendar")
    months = month_codes(values, tz)
    first, last = int(months.min()), int(months.max())
    if end is not None:
        last = max(last, int(month_codes(np.array([int(end) - 1]), tz)[0]))
    bounds = month_bounds(first, last, tz)
    names = None
    if zone(tz) is not None:
        names = month_labels(np.arange(first, last + 1))
    return Periods(
        index=months - first, start=bounds[:-1], end=bounds[1:], kind="calendar", names=names
    )


def trailing_periods(ts: np.ndarray, now: int, days: int = 30) -> Periods:
    """Windows of `days` days ending at `now`: [now-d, now), [now-2d, now-d), ...

    Timestamps at or after `now` get period -1 (outside)."""
    values = _as_int64(ts)
    width = int(days) * DAY
    now = int(now)
    before = values[values < now]
    n = 1 if len(before) == 0 else int((now - int(before.min()) - 1) // width) + 1
    back = (now - values - 1) // width
    index = np.where(values < now, n - 1 - back, -1).astype("int64")
    end = now - width * np.arange(n - 1, -1, -1, dtype="int64")
    return Periods(index=index, start=end - width, end=end, kind="trailing")
