"""Outside feature records completed into model rows: exact where the record determines them."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pipeline.feature_rows import MonthContext, RecordError, complete_records
from pipeline.features import (
    ALL_FEATURES,
    FEATURES,
    SEED_ALL_FEATURES,
    SEED_FEATURES,
    build_artist_months,
)
from pipeline.normalize import artist_keys
from pipeline.simulate import simulate_listener

END = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def history() -> tuple[pd.DataFrame, MonthContext]:
    scrobbles = simulate_listener(3, 18, END.timestamp())
    table = build_artist_months(scrobbles)
    month = pd.to_datetime(scrobbles["ts"], unit="s", utc=True).dt.strftime("%Y-%m")
    counts = (
        pd.DataFrame({"month": month, "artist": artist_keys(scrobbles["artist"])})
        .groupby(["month", "artist"])
        .size()
        .rename("plays")
        .reset_index()
    )
    context = MonthContext.from_counts(counts)
    assert context is not None
    return table[table["plays_t"] > 0].reset_index(drop=True), context


def test_seed_columns_give_the_pipeline_features_where_exact(history) -> None:
    rows, context = history
    records = rows[["month", *SEED_ALL_FEATURES]]
    completed = complete_records(records, FEATURES, context)
    assert list(completed.frame.columns) == FEATURES
    for name in FEATURES:
        exact = ~completed.estimated[name]
        assert exact.mean() > 0.2, name  # most features are exact for a good share of rows
        np.testing.assert_allclose(
            completed.frame.loc[exact, name], rows.loc[exact, name], rtol=1e-9, atol=1e-9
        )
    for name in ("core_progress_t", "core_chance_t", "core_progress_prev_t", "plays_rank_t"):
        assert not completed.estimated[name].any(), name
    # eligibility two months back uses this month's core bar: nearly always the same verdict
    assert (completed.eligible == rows["eligible"].to_numpy()).mean() > 0.98


def test_estimates_stay_close_and_full_rows_are_taken_as_given(history) -> None:
    rows, context = history
    # the 13 columns of the seed's README example
    seed_only = complete_records(rows[["month", *SEED_FEATURES]], FEATURES, context)
    est = seed_only.estimated["cum_progress_t"]
    assert est.any()
    # the cumulative count from the lags is a lower bound of the true one
    assert (
        seed_only.frame.loc[est, "cum_progress_t"] <= rows.loc[est, "cum_progress_t"] + 1e-9
    ).all()
    full = complete_records(rows[ALL_FEATURES], FEATURES, None)
    np.testing.assert_array_equal(full.frame.to_numpy(), rows[FEATURES].to_numpy())
    assert not any(mask.any() for mask in full.estimated.values())


def test_missing_and_impossible_values_are_named() -> None:
    with pytest.raises(RecordError) as missing:
        complete_records(pd.DataFrame([{"plays_t": 3.0}, {}]), FEATURES, None)
    problems = missing.value.problems
    assert "records[0]: total_monthly_scrobbles is missing (or share_t > 0 and plays_t)" in problems
    assert any(p.startswith("records[1]: plays_t is missing") for p in problems)
    impossible = {
        "plays_t": 5,
        "total_monthly_scrobbles": 3,
        "months_since_first_seen": 0,
        "days_active_t": 1,
        "last_play_gap_days_t": 1,
    }
    with pytest.raises(RecordError, match="plays_t: exceeds total_monthly_scrobbles"):
        complete_records(pd.DataFrame([impossible]), FEATURES, None)
    fine = {**impossible, "total_monthly_scrobbles": 300}
    with pytest.raises(RecordError, match="plays_rank_t and exploration_t are needed"):
        complete_records(pd.DataFrame([fine]), FEATURES, None)
    given = {**fine, "plays_rank_t": 4, "exploration_t": 0.1}
    done = complete_records(pd.DataFrame([given]), FEATURES, None)
    assert done.frame.loc[0, "core_progress_t"] == 5 / 3  # 1 % of 300 = 3 plays needed
