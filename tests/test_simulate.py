"""The simulated listener: deterministic, fast, and shaped like a real history."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.features import build_artist_months
from pipeline.labels import add_labels
from pipeline.simulate import simulate_listener

END = 1_795_176_000  # 2026-11-20 12:00 UTC
DAY = 86_400


def test_same_seed_same_history_other_seed_other_history() -> None:
    a = simulate_listener(5, months=12, end=END)
    b = simulate_listener(5, months=12, end=END)
    c = simulate_listener(6, months=12, end=END)
    pd.testing.assert_frame_equal(a, b)
    assert not a["artist"].equals(c["artist"]) or not a["ts"].equals(c["ts"])


def test_history_is_fast_sorted_and_ends_at_end() -> None:
    started = time.perf_counter()
    frame = simulate_listener(1, end=END)
    assert time.perf_counter() - started < 2.0
    assert list(frame.columns[:4]) == ["ts", "artist", "track", "album"]
    assert frame["ts"].dtype == "int64"
    assert frame["ts"].is_monotonic_increasing
    assert frame["ts"].max() < END
    assert frame["ts"].max() > END - 2 * DAY
    assert frame["ts"].min() >= END - 37 * 31 * DAY


def test_monthly_volume_and_catalogues_are_plausible() -> None:
    frame = simulate_listener(2, end=END)
    months = pd.to_datetime(frame["ts"], unit="s").dt.strftime("%Y-%m")
    volume = months.value_counts().sort_index().iloc[1:-1]  # complete months only
    assert volume.between(800, 2000).mean() > 0.9
    per_artist = frame.groupby("artist").agg(
        plays=("ts", "size"), tracks=("track", "nunique"), albums=("album", "nunique")
    )
    assert per_artist["plays"].median() <= 5  # most discoveries fade after a few plays
    top = per_artist.nlargest(5, "plays")
    assert (top["tracks"] >= 15).all() and (top["albums"] >= 2).all()


def test_names_carry_html_sensitive_characters() -> None:
    names = set(simulate_listener(3, months=12, end=END)["artist"])
    assert any("&" in n for n in names)
    assert any("<" in n for n in names)
    assert any('"' in n or "'" in n for n in names)
    keys = {n.casefold() for n in names}
    assert len(keys) == len(names)


def test_some_discoveries_break_out_and_one_is_fresh() -> None:
    cfg = PipelineConfig()
    frame = simulate_listener(4, end=END)
    table = add_labels(build_artist_months(frame, cfg), cfg)
    rows = table[table["eligible"] & (table["period"] >= cfg.cold_start_months)]
    labelled = rows["label"].dropna()
    assert labelled.sum() >= 15
    assert 0.03 < labelled.mean() < 0.3
    first = frame.groupby("artist")["ts"].min()
    fresh = first[(first > END - 14 * DAY) & (first < END - 8 * DAY)]
    plays = frame[frame["artist"].isin(fresh.index)].groupby("artist").size()
    assert (plays >= 3).any()
    assert np.isfinite(labelled.to_numpy()).all()
