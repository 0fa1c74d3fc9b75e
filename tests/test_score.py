"""Scoring both windows on a simulated history: who is scored, ranks, thresholds, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig
from pipeline.labels import add_labels
from pipeline.score import last_complete_month, monthly_table, score_artists
from pipeline.simulate import simulate_listener
from pipeline.train import ModelBundle, train_model

NOW = 1_795_176_000  # 2026-11-20 12:00 UTC
DAY = 86_400
CFG = PipelineConfig()


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return simulate_listener(11, end=NOW)


@pytest.fixture(scope="module")
def table(history: pd.DataFrame) -> pd.DataFrame:
    return add_labels(monthly_table(history, CFG, NOW), CFG)


@pytest.fixture(scope="module")
def bundle(table: pd.DataFrame) -> ModelBundle:
    return train_model(table, CFG)


def test_last_complete_month_is_the_month_before_now() -> None:
    assert last_complete_month(NOW) == "2026-10"
    assert last_complete_month(1_796_083_200) == "2026-11"  # exactly 2026-12-01 00:00


def test_trailing_window_surfaces_an_artist_discovered_ten_days_ago(
    history: pd.DataFrame, table: pd.DataFrame, bundle: ModelBundle
) -> None:
    scored = score_artists(history, bundle, CFG, NOW, monthly=table)
    cands = scored.candidates
    trailing = cands[cands["window"] == "trailing"]
    month = cands[cands["window"] == "month"]
    fresh = trailing[trailing["first_seen_ts"].between(NOW - 12 * DAY, NOW - 8 * DAY)]
    assert len(fresh) >= 1
    assert not set(fresh["artist_key"]) & set(month["artist_key"])
    assert (trailing["month"] == "2026-11").all()
    assert (month["month"] == "2026-10").all()
    assert scored.month == "2026-10" and scored.trailing_end == NOW


def test_only_eligible_artists_are_scored(history: pd.DataFrame, table: pd.DataFrame) -> None:
    scored = score_artists(history, None, CFG, NOW, monthly=table)
    month_rows = table[table["month"] == "2026-10"]
    month_keys = set(scored.candidates.loc[scored.candidates["window"] == "month", "artist_key"])
    assert month_keys == set(month_rows.loc[month_rows["eligible"], "artist_key"])
    core = set(month_rows.loc[month_rows["is_core"], "artist_key"])
    old = set(month_rows.loc[month_rows["months_since_first_seen"] > 6, "artist_key"])
    assert core and old
    assert not (set(scored.candidates["artist_key"]) & (core | old))
    assert (scored.candidates["plays"] >= 3).all()


def test_ranks_follow_probability_and_threshold_flags(
    history: pd.DataFrame, table: pd.DataFrame, bundle: ModelBundle
) -> None:
    scored = score_artists(history, bundle, CFG, NOW, monthly=table)
    cands = scored.candidates
    listed = cands[cands["rank"] > 0].sort_values("rank")
    # One list: each artist once, its trailing row when it has one, ranked by probability.
    assert listed["rank"].tolist() == list(range(1, len(listed) + 1))
    assert listed["artist_key"].is_unique and set(listed["artist_key"]) == set(cands["artist_key"])
    assert listed["probability"].is_monotonic_decreasing
    trailing = set(cands.loc[cands["window"] == "trailing", "artist_key"])
    assert (listed["window"] == "trailing").sum() == len(trailing)
    above = scored.candidates["probability"] >= bundle.threshold
    assert (scored.candidates["above_threshold"] == above).all()
    assert scored.threshold == pytest.approx(bundle.threshold)


def test_each_candidate_has_reasons(
    history: pd.DataFrame, table: pd.DataFrame, bundle: ModelBundle
) -> None:
    scored = score_artists(history, bundle, CFG, NOW, monthly=table)
    per = scored.reasons.groupby(["window", "artist_key"])["position"].apply(list)
    assert len(per) == len(scored.candidates)
    assert all(p == list(range(1, len(p) + 1)) and 1 <= len(p) <= 3 for p in per)
    assert scored.reasons["sentence"].str.len().min() > 10


def test_fallback_ranks_without_a_model(history: pd.DataFrame) -> None:
    scored = score_artists(history, None, CFG, NOW)
    assert len(scored.candidates) > 0
    assert not scored.candidates["above_threshold"].any()
    assert scored.threshold is None
    assert np.all((scored.candidates["probability"] >= 0) & (scored.candidates["probability"] <= 1))


def test_scrobbles_after_now_are_ignored(history: pd.DataFrame) -> None:
    earlier = NOW - 5 * DAY
    a = score_artists(history, None, CFG, earlier).candidates
    b = score_artists(history[history["ts"] < earlier], None, CFG, earlier).candidates
    pd.testing.assert_frame_equal(a, b)


def test_empty_history_scores_nothing() -> None:
    empty = simulate_listener(1, months=1, end=NOW).iloc[:0]
    scored = score_artists(empty, None, CFG, NOW)
    assert scored.candidates.empty and scored.reasons.empty
