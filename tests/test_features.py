"""Definitions of the artist-month table on tiny hand-made histories."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig
from pipeline.features import ALL_FEATURES, FEATURES, SEED_ALL_FEATURES, build_artist_months
from pipeline.periods import DAY, calendar_periods, trailing_periods
from pipeline.simulate import simulate_listener

CFG = PipelineConfig()


def ts(text: str) -> int:
    """Unix seconds of an ISO time in UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def history(*plays: tuple[str, str, int]) -> pd.DataFrame:
    """Scrobbles from (day 'YYYY-MM-DD', artist, count); track i of the artist, hourly spacing."""
    rows = []
    for day, artist, count in plays:
        for i in range(count):
            rows.append((ts(f"{day}T00:00:00") + 60 * i, artist, f"{artist} song {i % 4}", "LP"))
    return pd.DataFrame(rows, columns=["ts", "artist", "track", "album"])


def filler(month: str, n: int, name: str = "Filler") -> tuple[str, str, int]:
    """n plays of a background artist on the 2nd of the month."""
    return (f"{month}-02", name, n)


def row(table: pd.DataFrame, artist: str, month: str) -> pd.Series:
    """The table row of an artist (by key) in a month."""
    hit = table[(table["artist_key"] == artist.casefold()) & (table["month"] == month)]
    assert len(hit) == 1, f"{artist} {month}: {len(hit)} rows"
    return hit.iloc[0]


def test_feature_lists_cover_the_seed() -> None:
    assert len(SEED_ALL_FEATURES) == 19
    assert set(SEED_ALL_FEATURES) <= set(ALL_FEATURES)
    assert set(FEATURES) <= set(ALL_FEATURES)


def test_core_by_plays_and_by_share() -> None:
    # 5000 filler plays: 1 % would be 50, so only the 20-play rule can make A core
    table = build_artist_months(
        history(filler("2024-01", 5000), ("2024-01-05", "A", 20), ("2024-01-05", "B", 19)), CFG
    )
    assert bool(row(table, "A", "2024-01")["is_core"])
    assert not bool(row(table, "B", "2024-01")["is_core"])
    # 99 filler + 1 play of C: C has exactly 1 % of 100 scrobbles
    small = build_artist_months(history(filler("2024-01", 99), ("2024-01-05", "C", 1)), CFG)
    assert bool(row(small, "C", "2024-01")["is_core"])
    assert row(small, "C", "2024-01")["share_t"] == pytest.approx(0.01)
    smaller = build_artist_months(history(filler("2024-01", 101), ("2024-01-05", "C", 1)), CFG)
    assert not bool(row(smaller, "C", "2024-01")["is_core"])


def test_zero_play_grid_rows_and_lags() -> None:
    table = build_artist_months(
        history(
            filler("2024-01", 500),
            filler("2024-02", 500),
            filler("2024-03", 500),
            ("2024-01-10", "A", 4),
            ("2024-03-10", "A", 6),
        ),
        CFG,
    )
    feb = row(table, "A", "2024-02")
    assert feb["plays_t"] == 0 and not bool(feb["eligible"])
    assert feb["cumulative_plays_before_t"] == 4
    assert feb["last_play_gap_days_t"] == pytest.approx(
        (ts("2024-03-01T00:00:00") - ts("2024-01-10T00:03:00")) / DAY
    )
    mar = row(table, "A", "2024-03")
    assert mar["plays_t_minus_1"] == 0 and mar["prev_month_plays_was_zero"] == 1
    assert mar["months_since_first_seen"] == 2 and mar["active_months_count_before_t"] == 1
    assert mar["plays_prev3_mean"] == pytest.approx(4 / 3)
    assert mar["trend_slope_3m"] == pytest.approx((6 - 4) / 2)
    assert mar["cumulative_plays_t"] == 10


def test_month_edges() -> None:
    frame = pd.DataFrame(
        {
            "ts": [ts("2024-01-31T23:59:59"), ts("2024-02-01T00:00:00")],
            "artist": ["A", "A"],
            "track": ["x", "y"],
            "album": ["", ""],
        }
    )
    periods = calendar_periods(frame["ts"])
    assert list(periods.index) == [0, 1]
    assert list(periods.labels) == ["2024-01", "2024-02"]
    table = build_artist_months(frame, CFG)
    assert row(table, "A", "2024-01")["plays_t"] == 1
    assert row(table, "A", "2024-02")["plays_t"] == 1
    assert row(table, "A", "2024-01")["last_play_gap_days_t"] == pytest.approx(1 / DAY)


def test_within_month_features() -> None:
    table = build_artist_months(
        history(
            filler("2024-01", 1000),
            ("2024-01-03", "A", 2),
            ("2024-01-20", "A", 3),
            ("2024-01-21", "A", 4),
            ("2024-01-29", "A", 5),
        ),
        CFG,
    )
    a = row(table, "A", "2024-01")
    assert a["plays_t"] == 14 and a["days_active_t"] == 4
    assert a["plays_last7_t"] == 5  # Jan 25 00:00 .. Feb 1 00:00
    assert a["plays_last14_t"] == 12
    assert a["max_day_plays_t"] == 5 and a["longest_streak_days_t"] == 2
    assert a["distinct_tracks_t"] == 4 and a["track_novelty_rate_t"] == 1.0
    # plays needed for core: min(20, ceil(1 % of 1014 scrobbles)) = 11
    assert a["core_need_t"] == 11 and a["core_progress_t"] == pytest.approx(14 / 11)


def test_eligibility_boundaries() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    plays = [filler(m, 3000) for m in months]
    plays += [("2024-01-05", "Two", 2), ("2024-01-05", "Three", 3)]
    plays += [("2024-01-05", "Old", 3), ("2024-07-05", "Old", 3), ("2024-08-05", "Old", 3)]
    plays += [("2024-01-05", "Was", 25), ("2024-03-05", "Was", 5), ("2024-04-05", "Was", 5)]
    table = build_artist_months(history(*plays), CFG)
    assert not bool(row(table, "Two", "2024-01")["eligible"])
    assert bool(row(table, "Three", "2024-01")["eligible"])
    assert bool(row(table, "Old", "2024-07")["eligible"])  # 6 months since first seen
    assert not bool(row(table, "Old", "2024-08")["eligible"])  # 7 months
    assert bool(row(table, "Old", "2024-08")["learnable"])
    assert bool(row(table, "Was", "2024-01")["is_core"])
    assert not bool(row(table, "Was", "2024-03")["eligible"])  # core in t-2
    assert bool(row(table, "Was", "2024-04")["eligible"])  # core in t-3 only


def test_leakage_features_of_month_t_ignore_later_data() -> None:
    full = simulate_listener(5, 18, datetime(2024, 6, 20, tzinfo=UTC))
    cut = ts("2024-01-01T00:00:00")
    before = build_artist_months(full[full["ts"] < cut], CFG)
    after = build_artist_months(full, CFG)
    cols = ["artist_key", "period", *ALL_FEATURES, "is_core", "eligible", "learnable"]
    left = before[cols].sort_values(["artist_key", "period"]).reset_index(drop=True)
    right = after.loc[after["month"] < "2024-01", cols]
    right = right.sort_values(["artist_key", "period"]).reset_index(drop=True)
    # the long history also has zero-play rows for artists first seen late: compare shared rows
    merged = left.merge(right, on=["artist_key", "period"], suffixes=("_a", "_b"))
    assert len(merged) == len(left)
    for name in cols[2:]:
        np.testing.assert_allclose(
            merged[f"{name}_a"].to_numpy(dtype=float),
            merged[f"{name}_b"].to_numpy(dtype=float),
            err_msg=name,
        )


def test_trailing_periods_score_the_last_30_days() -> None:
    now = ts("2024-03-15T12:00:00")
    frame = history(
        ("2024-02-10", "A", 5),  # 34 days before now: previous window
        ("2024-02-20", "A", 4),
        ("2024-03-10", "A", 3),
        ("2024-03-16", "A", 9),  # after now: ignored
    )
    periods = trailing_periods(frame["ts"], now, days=30)
    assert periods.end[-1] == now and periods.start[-1] == now - 30 * DAY
    assert (periods.index[-9:] == -1).all()
    table = build_artist_months(frame, CFG, periods)
    last = table[table["period"] == periods.n - 1].iloc[0]
    assert last["plays_t"] == 7 and last["plays_t_minus_1"] == 5
    assert last["month"] == "2024-02"  # the window starts on Feb 14


def test_input_frame_is_not_modified() -> None:
    frame = history(("2024-01-05", "A", 3))
    copy = frame.copy()
    build_artist_months(frame, CFG)
    pd.testing.assert_frame_equal(frame, copy)


def test_activation_decays_with_age_and_counts_the_last_periods_only() -> None:
    plays = [filler(m, 3000) for m in ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05")]
    table = build_artist_months(
        history(*plays, ("2024-01-31", "A", 1), ("2024-01-01", "B", 1), ("2024-01-31", "C", 4)),
        CFG,
    )
    # A: one play exactly one day before January ends; B: 31 days before
    assert row(table, "A", "2024-01")["activation_t"] == pytest.approx(np.log1p(1.0), rel=1e-3)
    assert row(table, "B", "2024-01")["activation_t"] == pytest.approx(np.log1p(31**-0.5), rel=1e-3)
    assert row(table, "C", "2024-01")["activation_t"] > row(table, "A", "2024-01")["activation_t"]
    # a month later the same play counts less; after four months it no longer counts
    feb = row(table, "A", "2024-02")["activation_t"]
    assert 0 < feb < row(table, "A", "2024-01")["activation_t"]
    assert row(table, "A", "2024-05")["activation_t"] == 0.0


def test_gap_ratio_is_the_silence_over_the_usual_gap() -> None:
    plays = [filler("2024-01", 3000), ("2024-01-01", "A", 1), ("2024-01-11", "A", 1)]
    table = build_artist_months(history(*plays), CFG)
    got = row(table, "A", "2024-01")
    # 31 days since first seen over 2 active days = 15.5-day usual gap; silent for 21 days
    assert got["last_play_gap_days_t"] == pytest.approx(21, abs=0.01)
    assert got["gap_ratio_t"] == pytest.approx(21 / 15.5, rel=1e-3)
