"""Feature rows sent from outside (the seed's POST /predict records) completed into model rows.

A record carries some of ALL_FEATURES (the seed's README example: 13 of them). Every model
feature is derived from them by the same definitions as pipeline.features: exactly where the
record determines it, estimated (and reported as such) where it only bounds it, and named in
the error when it cannot be had at all. The listener's own months (MonthContext) supply the
two features no record carries: the artist's rank in its month and the month's exploration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.special import gammainc

from pipeline.config import PipelineConfig
from pipeline.errors import UserError
from pipeline.rules import core_need, eligible

MAX_PROBLEMS = 20
# The largest values a listener can produce, far above any real one (a month has 2.7M
# seconds) and far below float32's 3.4e38, which the boosters compute in.
MONTH_PLAYS = 10_000_000.0
LIFETIME = 1_000_000_000.0
DAYS = 36_600.0  # a century
UNIT = (0.0, 1.0)
_BOUNDS: dict[tuple[float, float], tuple[str, ...]] = {
    (1.0, MONTH_PLAYS): ("total_monthly_scrobbles",),
    (0.0, MONTH_PLAYS): (
        "plays_t", "plays_t_minus_1", "plays_prev3_mean", "plays_last7_t", "plays_last14_t",
        "distinct_tracks_t", "distinct_albums_t", "max_day_plays_t", "new_artists_t",
        "plays_rank_t", "core_need_t",
    ),
    (0.0, LIFETIME): (
        "cumulative_plays_before_t", "cumulative_plays_t", "plays_per_track_t", "ratio_to_prev3",
        "core_progress_t", "core_progress_prev_t", "core_progress_3m_mean", "cum_progress_t",
        "recent_progress_t", "gap_ratio_t", "activation_t",
    ),
    (0.0, 1200.0): ("months_since_first_seen", "active_months_count_before_t"),
    (0.0, 31.0): ("days_active_t", "longest_streak_days_t"),
    (0.0, DAYS): ("last_play_gap_days_t", "days_since_first_seen"),
    UNIT: (
        "share_t", "track_novelty_rate_t", "exploration_t", "core_chance_t",
        "core_chance_recent_t", "core_chance_avg_t", "core_chance_mix_t",
        "is_first_month", "prev_month_plays_was_zero",
    ),
    (-MONTH_PLAYS, MONTH_PLAYS): ("delta_1m", "delta_1m_pct", "trend_slope_3m"),
    (-1.0, 1.0): ("share_delta_1m",),
}  # fmt: skip
FEATURE_BOUNDS = {name: bounds for bounds, names in _BOUNDS.items() for name in names}
FLAGS = ("is_first_month", "prev_month_plays_was_zero")
# Records carry rounded numbers (the seed's example: plays_prev3_mean 0.333 for 1/3): a value
# implied by them is taken as zero when it is negative by less than this share of its terms.
ROUNDING = 2e-3


class RecordError(UserError):
    """Records the model cannot score; `problems` names each missing or impossible value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MonthContext:
    """The listener's months: label, scrobbles, newly seen artists, active artists' plays."""

    months: list[str]
    totals: np.ndarray
    new_artists: np.ndarray
    plays: list[np.ndarray] = field(repr=False)  # per month, ascending

    @classmethod
    def from_counts(cls, counts: pd.DataFrame) -> MonthContext | None:
        """From (month "YYYY-MM", artist, plays) rows of a whole history; None when empty."""
        if counts.empty:
            return None
        counts = counts.sort_values(["month", "plays"], kind="stable")
        first = counts.groupby("artist")["month"].min().value_counts()
        groups = counts.groupby("month", sort=True)["plays"]
        months = list(groups.groups)
        return cls(
            months=months,
            totals=groups.sum().to_numpy(dtype="float64"),
            new_artists=first.reindex(months, fill_value=0).to_numpy(dtype="float64"),
            plays=[g.to_numpy(dtype="float64") for _, g in groups],
        )

    def active_above(self, index: np.ndarray, plays: np.ndarray) -> np.ndarray:
        """Per record: how many active artists of month `index` played more than `plays`."""
        # (month, plays) pairs as complex numbers sort and search lexicographically, so one
        # searchsorted over all months' ascending plays answers every record exactly.
        sizes, pairs = self._pairs
        starts = np.cumsum(sizes) - sizes
        at_most = np.searchsorted(pairs, index + 1j * plays, side="right") - starts[index]
        return sizes[index] - at_most

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        sizes = np.array([len(p) for p in self.plays], dtype="int64")
        return sizes, np.repeat(np.arange(len(sizes)), sizes) + 1j * np.concatenate(self.plays)

    def month_index(self, month: pd.Series, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per record: the matching month (same label and total) or the nearest by total."""
        position = {m: i for i, m in enumerate(self.months)}
        label = month.fillna("").astype(str).str[:7]
        same = label.map(position).to_numpy(dtype="float64")
        exact = ~np.isnan(same)
        exact[exact] = self.totals[same[exact].astype(int)] == total[exact]
        order = np.argsort(self.totals, kind="stable")
        at = np.clip(np.searchsorted(self.totals[order], total), 1, len(order) - 1)
        if len(order) == 1:
            nearest = np.zeros(len(total), dtype=int)
        else:
            lo, hi = order[at - 1], order[at]
            nearest = np.where(
                np.abs(self.totals[lo] - total) <= np.abs(self.totals[hi] - total), lo, hi
            )
        return np.where(exact, same, nearest).astype(int), exact


@dataclass(frozen=True)
class Completed:
    """Model rows of the records, which features were estimated, and eligibility."""

    frame: pd.DataFrame
    estimated: dict[str, np.ndarray]
    eligible: np.ndarray


class _Rows:
    """Column access with NaN for absent values, and the problems found so far."""

    def __init__(self, records: pd.DataFrame) -> None:
        self.records = records
        self.problems: list[str] = []

    def col(self, name: str) -> np.ndarray:
        if name not in self.records:
            return np.full(len(self.records), np.nan)
        values = self.records[name]
        if values.dtype == "float64":  # the API's columns: to_numeric would only copy them
            return values.to_numpy(dtype="float64", copy=True)
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")

    def require(self, missing: np.ndarray, message: str, name: str = "") -> None:
        where = f".{name}" if name else ""
        for i in np.flatnonzero(missing)[:5]:
            self.problems.append(f"records[{i}]{where}: {message}")

    def check_bounds(self) -> None:
        """Every given feature within what a listener can produce; flags 0 or 1."""
        for name, (low, high) in FEATURE_BOUNDS.items():
            value = self.col(name)
            outside = ~np.isnan(value) & ((value < low) | (value > high))
            self.require(outside, f"must be between {low:,g} and {high:,g}", name)
            if name in FLAGS:
                self.require(~np.isin(value, (0.0, 1.0)) & ~np.isnan(value), "must be 0 or 1", name)


def _implied(value: np.ndarray, *terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value clipped at zero, where it is negative beyond the rounding of its terms)."""
    scale = sum(np.abs(np.nan_to_num(t)) for t in terms)
    impossible = value < -(ROUNDING * scale + 1e-9)
    return np.where(value < 0, 0.0, value), impossible


def _fill(value: np.ndarray, by: np.ndarray | float, where: np.ndarray | bool = True) -> np.ndarray:
    """`value`, with its NaNs replaced by `by` (only `where` it holds)."""
    return np.where(np.isnan(value) & where, by, value)


def _volume(r: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """plays_t, total_monthly_scrobbles, months_since_first_seen (each possibly via others)."""
    plays, total, share = r.col("plays_t"), r.col("total_monthly_scrobbles"), r.col("share_t")
    with np.errstate(divide="ignore", invalid="ignore"):
        total = _fill(total, plays / share, share > 0)
    plays = _fill(plays, share * total)
    msfs = _fill(r.col("months_since_first_seen"), 0.0, r.col("is_first_month") == 1)
    r.require(np.isnan(plays), "plays_t is missing (or share_t with total_monthly_scrobbles)")
    r.require(np.isnan(total), "total_monthly_scrobbles is missing (or share_t > 0 and plays_t)")
    r.require(np.isnan(msfs), "months_since_first_seen is missing (or is_first_month = 1)")
    r.require(plays > total, "exceeds total_monthly_scrobbles", "plays_t")
    empty = total < 1  # (derived from share_t) a month without scrobbles has no artist-month
    r.require(empty, "a month of 0 scrobbles has nothing to score", "total_monthly_scrobbles")
    return plays, total, msfs


def _lags(r: _Rows, plays: np.ndarray, msfs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Plays one, two and three months before, from the momentum features; lag3 may be NaN."""
    delta, slope, mean = r.col("delta_1m"), r.col("trend_slope_3m"), r.col("plays_prev3_mean")
    lag1, bad1 = _implied(_fill(r.col("plays_t_minus_1"), plays - delta), plays, delta)
    lag1 = _fill(lag1, 0.0, (r.col("prev_month_plays_was_zero") == 1) | (msfs == 0))
    lag2, bad2 = _implied(_fill(plays - 2 * slope, 0.0, msfs <= 1), plays, 2 * slope)
    lag3, bad3 = _implied(_fill(3 * mean - lag1 - lag2, 0.0, msfs <= 2), 3 * mean, lag1, lag2)
    r.require(np.isnan(lag1), "plays_t_minus_1 is missing (or delta_1m)")
    r.require(np.isnan(lag2), "trend_slope_3m is missing (it gives the plays two months before)")
    r.require(bad1, "implies negative plays in the previous month", "delta_1m")
    r.require(bad2, "implies negative plays two months before", "trend_slope_3m")
    r.require(bad3, "implies negative plays three months before", "plays_prev3_mean")
    return lag1, lag2, lag3


def _given_or(r: _Rows, name: str, value: np.ndarray, estimated: np.ndarray):
    """A feature the record gives wins over the derived one and is never an estimate."""
    given = r.col(name)
    has = ~np.isnan(given)
    return np.where(has, given, value), estimated & ~has


def complete_records(
    records: pd.DataFrame,
    features: list[str],
    context: MonthContext | None,
    cfg: PipelineConfig | None = None,
) -> Completed:
    """Model rows (columns `features`) for the records; RecordError names what is missing."""
    cfg = cfg or PipelineConfig()
    r = _Rows(records)
    n = len(records)
    r.check_bounds()
    if r.problems:
        raise RecordError(r.problems[:MAX_PROBLEMS])
    plays, total, msfs = _volume(r)
    lag1, lag2, lag3 = _lags(r, plays, msfs)
    if r.problems:
        raise RecordError(r.problems[:MAX_PROBLEMS])
    no = np.zeros(n, dtype=bool)
    need = core_need(total, cfg)
    f: dict[str, np.ndarray] = {}
    est: dict[str, np.ndarray] = {}
    f["core_progress_t"], est["core_progress_t"] = plays / need, no
    share_prev = r.col("share_t") - r.col("share_delta_1m")
    with np.errstate(divide="ignore", invalid="ignore"):
        total_prev = np.where((lag1 > 0) & (share_prev > 0), lag1 / share_prev, np.nan)
    est_prev = (lag1 > 0) & np.isnan(total_prev)
    f["core_progress_prev_t"] = lag1 / core_need(_fill(total_prev, total), cfg)
    est["core_progress_prev_t"] = est_prev
    f["core_progress_3m_mean"] = (
        f["core_progress_t"] + f["core_progress_prev_t"] + lag2 / need
    ) / 3
    est["core_progress_3m_mean"] = est_prev | (lag2 > 0)
    cum, est_cum = _cumulative(r, plays, msfs, lag1, lag2, lag3)
    last7, est7 = _recent(r, "plays_last7_t", 7, plays)
    last14, est14 = _recent(r, "plays_last14_t", 14, plays)
    avg = cum / (msfs + 1.0)
    f["core_chance_t"], est["core_chance_t"] = gammainc(need, plays), no
    f["core_chance_recent_t"] = gammainc(need, np.maximum(plays, last7 * 30 / 7))
    est["core_chance_recent_t"] = est7
    f["core_chance_avg_t"], est["core_chance_avg_t"] = gammainc(need, avg), est_cum
    f["core_chance_mix_t"] = gammainc(need, 0.5 * plays + 0.5 * avg)
    est["core_chance_mix_t"] = est_cum
    f["cum_progress_t"], est["cum_progress_t"] = cum / need, est_cum
    f["recent_progress_t"], est["recent_progress_t"] = last14 / need, est14
    f["months_since_first_seen"], est["months_since_first_seen"] = msfs, no
    _from_context(r, f, est, context, records, plays, total)
    for name in list(f):
        f[name], est[name] = _given_or(r, name, f[name], est[name])
    for name in features:
        if name not in f:
            given = r.col(name)
            r.require(np.isnan(given), f"{name} is missing (the model needs it)")
            f[name], est[name] = given, no
    for name in features:
        r.require(np.abs(f[name]) > LIFETIME, "out of range", name)  # NaN: missing, said above
    if r.problems:
        raise RecordError(r.problems[:MAX_PROBLEMS])
    frame = pd.DataFrame({name: f[name] for name in features}, index=records.index)
    core_before = (f["core_progress_prev_t"] >= 1) | (lag2 / need >= 1)
    core_now = ~(f["core_progress_t"] < 1)
    ok = eligible(plays, msfs, core_now, core_before, cfg)
    return Completed(frame, {k: est[k] for k in features if k in est}, ok)


def _cumulative(r, plays, msfs, lag1, lag2, lag3) -> tuple[np.ndarray, np.ndarray]:
    """cumulative_plays_t: given, or before + plays, or the lags (exact within 3 months)."""
    cum = r.col("cumulative_plays_t")
    cum = _fill(cum, r.col("cumulative_plays_before_t") + plays)
    known = ~np.isnan(cum)
    lags = lag1 + lag2 + np.nan_to_num(lag3)
    active_lags = (lag1 > 0).astype(float) + (lag2 > 0) + (np.nan_to_num(lag3) > 0)
    # older active months played at least once each: a lower bound, hence an estimate
    older = np.maximum(np.nan_to_num(r.col("active_months_count_before_t")) - active_lags, 0)
    exact = (msfs <= 3) & ~np.isnan(lag3)
    bound = plays + lags + np.where(exact, 0.0, older)
    return np.where(known, cum, bound), ~known & ~exact


def _recent(r: _Rows, name: str, days: int, plays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plays in the period's last `days` days: given, 0 when the gap is longer, else spread."""
    given, gap = r.col(name), r.col("last_play_gap_days_t")
    none_recent = gap >= days
    spread = np.maximum(np.minimum(plays, plays * days / 30.0), np.where(gap < days, 1.0, 0.0))
    value = np.where(~np.isnan(given), given, np.where(none_recent, 0.0, spread))
    return value, np.isnan(given) & ~none_recent


def _from_context(r, f, est, context, records, plays, total) -> None:
    """plays_rank_t and exploration_t from the listener's months (the same month if known)."""
    given = ~np.isnan(r.col("plays_rank_t")) & ~np.isnan(r.col("exploration_t"))
    if context is None:
        if not given.all():
            r.require(~given, "plays_rank_t and exploration_t are needed: no history is stored")
        return
    month = records["month"] if "month" in records else pd.Series([None] * len(records))
    index, exact = context.month_index(month.reset_index(drop=True), total)
    rank = 1 + context.active_above(index, plays)
    f["plays_rank_t"], est["plays_rank_t"] = rank, ~exact
    new = r.col("new_artists_t")
    has_new = ~np.isnan(new)
    rate = context.new_artists[index] / np.maximum(context.totals[index], 1)
    f["exploration_t"] = np.where(has_new, new / np.maximum(total, 1), rate)
    est["exploration_t"] = ~exact & ~has_new
