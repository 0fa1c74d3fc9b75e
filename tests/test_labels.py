"""Label shift, censoring and feedback overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.features import build_artist_months
from pipeline.labels import add_labels
from tests.test_features import filler, history

CFG = PipelineConfig()
MONTHS = [f"2024-{m:02d}" for m in range(1, 9)]


def labelled() -> pd.DataFrame:
    """A: core in April; B: core in May only; C: core in August (the last month)."""
    plays = [filler(m, 3000) for m in MONTHS]
    plays += [("2024-01-05", "A", 3), ("2024-02-05", "A", 4), ("2024-04-05", "A", 25)]
    plays += [("2024-01-05", "B", 3), ("2024-05-05", "B", 30)]
    plays += [("2024-05-05", "C", 5), ("2024-08-05", "C", 40)]
    return add_labels(build_artist_months(history(*plays), CFG), CFG)


def label(table: pd.DataFrame, artist: str, month: str) -> float:
    """The label of one artist-month."""
    hit = table[(table["artist_key"] == artist.casefold()) & (table["month"] == month)]
    assert len(hit) == 1
    return float(hit["label"].iloc[0])


def test_label_is_core_in_one_of_the_next_two_months() -> None:
    table = labelled()
    assert label(table, "A", "2024-02") == 1.0  # core at t+2
    assert label(table, "A", "2024-03") == 1.0  # core at t+1 (a zero-play row)
    assert label(table, "A", "2024-01") == 0.0  # core only at t+3
    assert label(table, "B", "2024-03") == 1.0
    assert label(table, "B", "2024-02") == 0.0
    assert label(table, "A", "2024-04") == 0.0  # core now, not later


def test_last_two_months_are_censored() -> None:
    table = labelled()
    assert np.isnan(label(table, "C", "2024-07"))
    assert np.isnan(table.loc[table["month"] == "2024-08", "label"]).all()
    assert label(table, "C", "2024-06") == 1.0  # core in August, the last month
    assert table.loc[table["month"] <= "2024-06", "label"].notna().all()


def test_feedback_overrides_the_rule_label() -> None:
    table = labelled().drop(columns="label")
    feedback = pd.DataFrame(
        {
            "artist_key": ["a", "c", "nobody"],
            "month": ["2024-02", "2024-07", "2024-02"],
            "verdict": [0, 1, 1],
        }
    )
    out = add_labels(table, CFG, feedback)
    assert label(out, "A", "2024-02") == 0.0  # dismissed: rule said 1
    assert label(out, "C", "2024-07") == 1.0  # confirmed: rule could not know yet
    assert label(out, "A", "2024-03") == 1.0  # untouched
    assert len(out) == len(table) and "label" not in table


def test_a_month_in_progress_neither_makes_core_nor_labels() -> None:
    """Rebuilding on 1 Aug at 03:00: August exists but is not a finished month."""
    from pipeline.score import as_unix, monthly_table

    plays = [filler(m, 3000) for m in MONTHS[:7]]
    plays += [("2024-05-05", "D", 5), ("2024-08-01", "D", 2), ("2024-08-01", "E", 3)]
    scrobbles = history(*plays)
    early = as_unix(pd.Timestamp("2024-08-01 03:00", tz="UTC").to_pydatetime())
    features = monthly_table(scrobbles, CFG, early)
    assert features.attrs["open_last_period"]
    table = add_labels(features, CFG)
    # D's 2 plays are 40 % of August so far; as if August were over, June would be labelled 1.
    assert np.isnan(label(table, "D", "2024-06"))
    assert label(table, "D", "2024-05") == 0.0  # June and July are finished months
    as_if_closed = features.copy()
    as_if_closed.attrs["open_last_period"] = False
    assert label(add_labels(as_if_closed, CFG), "D", "2024-06") == 1.0
    # At the month boundary the table ends with July, a finished month.
    boundary = as_unix(pd.Timestamp("2024-08-01 00:00", tz="UTC").to_pydatetime())
    features = monthly_table(scrobbles, CFG, boundary)
    assert not features.attrs["open_last_period"]
    table = add_labels(features, CFG)
    assert label(table, "D", "2024-05") == 0.0
    assert np.isnan(label(table, "D", "2024-06"))
