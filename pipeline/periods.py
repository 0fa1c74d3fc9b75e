"""Map timestamps to consecutive integer periods: calendar months (UTC) or trailing windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = 86_400


@dataclass(frozen=True)
class Periods:
    """Per-timestamp period numbers (0 = oldest, -1 = outside) and each period's bounds."""

    index: np.ndarray  # int64 per input timestamp
    start: np.ndarray  # int64 Unix seconds, inclusive, per period
    end: np.ndarray  # int64 Unix seconds, exclusive, per period
    kind: str  # "calendar" or "trailing"

    @property
    def n(self) -> int:
        """Number of periods."""
        return len(self.start)

    @property
    def labels(self) -> np.ndarray:
        """'YYYY-MM' of each period's start (UTC)."""
        return _month_labels(self.start)


def _month_labels(start: np.ndarray) -> np.ndarray:
    months = np.asarray(start, dtype="int64").astype("datetime64[s]").astype("datetime64[M]")
    return np.datetime_as_string(months, unit="M").astype(object)


def _as_int64(ts: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(ts, dtype="int64")


def calendar_periods(ts: pd.Series | np.ndarray, end: int | None = None) -> Periods:
    """Calendar months (UTC) from the first timestamp's month to the last one (or `end`'s)."""
    values = _as_int64(ts)
    months = values.astype("datetime64[s]").astype("datetime64[M]").astype("int64")
    if len(values) == 0:
        empty = np.zeros(0, dtype="int64")
        return Periods(index=empty, start=empty, end=empty, kind="calendar")
    first, last = int(months.min()), int(months.max())
    if end is not None:
        last = max(last, int(np.datetime64(int(end) - 1, "s").astype("datetime64[M]").astype(int)))
    all_months = np.arange(first, last + 2, dtype="int64").astype("datetime64[M]")
    bounds = all_months.astype("datetime64[s]").astype("int64")
    return Periods(index=months - first, start=bounds[:-1], end=bounds[1:], kind="calendar")


def trailing_periods(ts: pd.Series | np.ndarray, now: int, days: int = 30) -> Periods:
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
