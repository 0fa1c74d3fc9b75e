"""Score every currently eligible artist, for the last complete month and a trailing window,
and merge both into one list.

Two windows, one feature code. The "month" window describes the last complete calendar month:
the same rows the model was trained and thresholded on (the track record's predictions). The
"trailing" window describes the last 30 days ending `now` (30-day windows are close enough to
months for the same features and model to apply), so an artist discovered ten days ago is scored
today instead of after its month closes.

One list (`one_list`): each artist once, with its freshest score — the trailing window's when the
artist is eligible there, else the last complete month's — minus artists already core this month,
ranked by that probability (`rank` 1..n; 0 for a row the list does not show). `/candidates`, the
card and the monthly push all read this one ranking.

Reasons compare an artist with a typical new artist of yours: each feature's contribution is
centred on its mean over the window's eligible rows, so "what points to it" is what lifts this
artist above the others, and a candidate above the typical one always has something that does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.features import build_artist_months
from pipeline.normalize import artist_keys
from pipeline.periods import (
    DAY,
    Periods,
    Zone,
    calendar_periods,
    last_complete_month,
    month_of,
    trailing_periods,
)
from pipeline.reasons import explain, fallback_contributions
from pipeline.train import ModelBundle, fallback_scores

CANDIDATE_COLUMNS = [
    "artist_key",
    "artist",
    "month",
    "window",
    "probability",
    "rank",
    "above_threshold",
    "first_seen_ts",
    "plays",
]
REASON_COLUMNS = [
    "artist_key",
    "window",
    "position",
    "feature",
    "value",
    "contribution",
    "tail",
    "sentence",
]
TOP_REASONS = 3


@dataclass(frozen=True)
class Scored:
    """Candidates of both windows (`rank`: place in the one list, 0 when not shown) and their
    reasons."""

    candidates: pd.DataFrame
    reasons: pd.DataFrame
    month: str  # the last complete calendar month, YYYY-MM
    trailing_start: int  # Unix seconds, inclusive
    trailing_end: int  # Unix seconds, exclusive (= now)
    threshold: float | None


def as_unix(now: datetime | float | int) -> int:
    """Unix seconds of a datetime (aware or UTC-naive) or a number."""
    if isinstance(now, datetime):
        return int(
            pd.Timestamp(now).tz_localize("UTC").timestamp()
            if now.tzinfo is None
            else now.timestamp()
        )
    return int(now)


def before(scrobbles: pd.DataFrame, now: int) -> pd.DataFrame:
    """The scrobbles strictly before `now` (the input itself when nothing is later)."""
    ts = scrobbles["ts"].to_numpy(dtype="int64")
    late = ts >= now
    return scrobbles[~late] if late.any() else scrobbles


def monthly_table(
    scrobbles: pd.DataFrame, cfg: PipelineConfig, now: int, tz: Zone = None
) -> pd.DataFrame:
    """Calendar-month features (owner's months) up to the month containing `now`."""
    scrobbles = before(scrobbles, now)
    periods = calendar_periods(scrobbles["ts"], end=now, tz=tz)
    table = build_artist_months(scrobbles, cfg, periods)
    table.attrs["open_last_period"] = bool(periods.n and periods.end[-1] > now)
    return table


def trailing_table(
    scrobbles: pd.DataFrame, cfg: PipelineConfig, now: int, seen_before: np.ndarray | None = None
) -> pd.DataFrame:
    """Features of 30-day windows ending at `now` (its last period is the one ending now).

    Only the windows an eligible row of the last one can reach are built: an artist first
    played in the last `eligible_max_age` + 1 windows has its whole history in them, and an
    artist played before them is too old to be eligible (see `build_artist_months`'
    `seen_before`). Its rows there are exact for the young artists and give every artist's plays.
    `seen_before`: when `scrobbles` are the recent plays only (reaching back at least those
    windows), the keys of the artists played before them.
    """
    recent = before(scrobbles, now)
    periods = trailing_periods(recent["ts"], now, cfg.trailing_days)
    cut = max(periods.n - (cfg.eligible_max_age + 1), 0)
    if cut == 0 and seen_before is None:
        return build_artist_months(recent, cfg, periods)
    inside = periods.index >= cut
    keys = (
        recent["artist_key"] if "artist_key" in recent else artist_keys(recent["artist"])
    ).to_numpy()
    seen_before = np.concatenate(
        [pd.unique(keys[~inside]), np.asarray([] if seen_before is None else seen_before, object)]
    )
    window = Periods(
        index=np.where(inside, periods.index - cut, -1),
        start=periods.start[cut:],
        end=periods.end[cut:],
        kind=periods.kind,
    )
    return build_artist_months(recent, cfg, window, seen_before=seen_before)


def _score_window(
    rows: pd.DataFrame, window: str, bundle: ModelBundle | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Probability, rank, threshold flag and reasons of one window's eligible rows."""
    if rows.empty:
        return _empty(CANDIDATE_COLUMNS), _empty(REASON_COLUMNS)
    if bundle is not None:
        probability = np.asarray(bundle.predict_proba(rows), dtype="float64")
        contributions = centred(bundle.contributions(rows))
        above = probability >= bundle.threshold
    else:
        probability = fallback_scores(rows).to_numpy(dtype="float64")
        contributions = fallback_contributions(rows)
        above = np.zeros(len(rows), dtype=bool)
    out = pd.DataFrame(
        {
            "artist_key": rows["artist_key"].to_numpy(dtype=object),
            "artist": rows["artist"].to_numpy(dtype=object),
            "month": rows["month"].to_numpy(dtype=object),
            "window": window,
            "probability": probability,
            "above_threshold": above,
            "first_seen_ts": rows["first_seen_ts"].to_numpy(dtype="int64"),
            "plays": rows["plays_t"].to_numpy(dtype="int64"),
        },
        index=rows.index,
    )
    out["rank"] = 0
    reasons = explain(rows, contributions, top=TOP_REASONS, window=window)
    reasons["artist_key"] = rows.loc[reasons["row"], "artist_key"].to_numpy(dtype=object)
    reasons["window"] = window
    return out[CANDIDATE_COLUMNS].reset_index(drop=True), reasons[REASON_COLUMNS]


def centred(contributions: pd.DataFrame) -> pd.DataFrame:
    """Contributions relative to the mean row (a typical new artist of the same window); the
    bias absorbs the shift, so each row still sums to its margin."""
    features = [c for c in contributions.columns if c != "bias"]
    mean = contributions[features].mean(axis=0)
    out = contributions.copy()
    out[features] = contributions[features] - mean
    if "bias" in out:
        out["bias"] = contributions["bias"] + float(mean.sum())
    return out


def one_list(candidates: pd.DataFrame, core_now: object = ()) -> pd.DataFrame:
    """`rank` = place in the one list: per artist the trailing row when there is one, else the
    month row; artists in `core_now` (keys) left out (rank 0); by probability, then plays."""
    if candidates.empty:
        return candidates
    trailing = candidates["window"].to_numpy() == "trailing"
    in_trailing = candidates["artist_key"].isin(candidates.loc[trailing, "artist_key"])
    shown = (trailing | ~in_trailing.to_numpy()) & ~candidates["artist_key"].isin(
        list(core_now)
    ).to_numpy()
    order = candidates[shown].sort_values(
        ["probability", "plays", "artist_key"], ascending=[False, False, True], kind="stable"
    )
    rank = pd.Series(0, index=candidates.index, dtype="int64")
    rank[order.index] = np.arange(1, len(order) + 1)
    out = candidates.assign(rank=rank.to_numpy())
    unlisted = (out["rank"] == 0).to_numpy()
    return out.iloc[np.lexsort((-out["probability"].to_numpy(), out["rank"].to_numpy(), unlisted))]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else _empty(columns)


def empty_scored(now: int, cfg: PipelineConfig, tz: Zone = None) -> Scored:
    """Nothing to score (no scrobbles before `now`)."""
    return Scored(
        candidates=_empty(CANDIDATE_COLUMNS),
        reasons=_empty(REASON_COLUMNS),
        month=last_complete_month(now, tz),
        trailing_start=now - cfg.trailing_days * DAY,
        trailing_end=now,
        threshold=None,
    )


def score_artists(
    scrobbles: pd.DataFrame,
    bundle: ModelBundle | None,
    cfg: PipelineConfig | None = None,
    now: datetime | float | int | None = None,
    *,
    monthly: pd.DataFrame | None = None,
    trailing: pd.DataFrame | None = None,
    tz: Zone = None,
) -> Scored:
    """Score the eligible artists of the last complete month and of the trailing window.

    `monthly` and `trailing` may be the tables already built by `monthly_table` and
    `trailing_table` for the same `now` and `tz` (the owner's time zone; months are UTC
    without it). Without a model (`bundle` None) the fallback ranking applies and nothing is
    above threshold.
    """
    cfg = cfg or PipelineConfig()
    now_ts = as_unix(time.time() if now is None else now)
    month = last_complete_month(now_ts, tz)
    recent = before(scrobbles, now_ts)
    if recent.empty:
        return empty_scored(now_ts, cfg, tz)
    if monthly is None:
        monthly = monthly_table(scrobbles, cfg, now_ts, tz)
    if trailing is None:
        trailing = trailing_table(scrobbles, cfg, now_ts)
    month_rows = monthly[(monthly["month"] == month).to_numpy() & monthly["eligible"].to_numpy()]
    last = int(trailing.attrs.get("n_periods", 0)) - 1  # the window ending now, even if empty
    trail_rows = trailing[(trailing["period"] == last).to_numpy() & trailing["eligible"].to_numpy()]
    parts = [_score_window(month_rows, "month", bundle)]
    # A trailing candidate belongs to the month its window ends in: feedback on it labels that
    # artist-month, which the calendar table holds once the month is built.
    trail = _score_window(trail_rows, "trailing", bundle)
    trail[0]["month"] = month_of(now_ts - 1, tz)
    parts.append(trail)
    return Scored(
        candidates=one_list(_concat([p[0] for p in parts], CANDIDATE_COLUMNS)),
        reasons=_concat([p[1] for p in parts], REASON_COLUMNS),
        month=month,
        trailing_start=now_ts - cfg.trailing_days * DAY,
        trailing_end=now_ts,
        threshold=None if bundle is None else float(bundle.threshold),
    )
