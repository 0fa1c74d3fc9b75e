"""Reasons agree with themselves on real candidates: every candidate of the five shared
histories (several scoring dates each) and a property test over the demo listener's."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import PipelineConfig
from pipeline.importers import read_history
from pipeline.labels import add_labels
from pipeline.score import monthly_table, score_artists
from pipeline.simulate import simulate_listener
from pipeline.train import ModelBundle, train_model
from tests.conftest import shared_history
from tests.test_reasons import assert_reasons_agree

CFG = PipelineConfig()
DAY = 86_400
HISTORIES = [
    "music-stats.csv",
    "pavelgar.csv",
    "pingw33n.lastfm-to-csv.csv",
    "tariktosun.csv",
    "timcdlucas.csv",
]
DEMO_END = 1_795_176_000  # 2026-11-20 12:00 UTC
# Scoring dates before each history's end: mid-month, just after a month ends, a year back.
OFFSETS_DAYS = [0, 17, 45, 200, 365]


def _trained(scrobbles: pd.DataFrame, now: int) -> ModelBundle:
    return train_model(add_labels(monthly_table(scrobbles, CFG, now), CFG), CFG)


@pytest.mark.slow
@pytest.mark.parametrize("name", HISTORIES)
def test_every_candidate_of_a_shared_history(name: str) -> None:
    scrobbles = read_history(shared_history(name)).frame
    end = int(scrobbles["ts"].max()) + 1
    bundle = _trained(scrobbles, end)
    checked = 0
    for days in OFFSETS_DAYS:
        scored = score_artists(scrobbles, bundle, CFG, end - days * DAY)
        assert len(scored.reasons["artist_key"].unique()) <= len(scored.candidates)
        checked += assert_reasons_agree(scored.reasons)
    assert checked > 0


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, ModelBundle]:
    history = simulate_listener(7, end=DEMO_END)  # the listener `breakout demo` uses
    return history, _trained(history, DEMO_END)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    days_back=st.integers(min_value=0, max_value=500),
    seconds=st.integers(min_value=0, max_value=DAY - 1),
    with_model=st.booleans(),
)
@pytest.mark.slow
def test_demo_listener_reasons_never_contradict(
    demo: tuple[pd.DataFrame, ModelBundle], days_back: int, seconds: int, with_model: bool
) -> None:
    history, bundle = demo
    now = DEMO_END - days_back * DAY - seconds
    scored = score_artists(history, bundle if with_model else None, CFG, now)
    assert_reasons_agree(scored.reasons)
    shown = set(zip(scored.reasons["window"], scored.reasons["artist_key"], strict=True))
    assert shown <= set(
        zip(scored.candidates["window"], scored.candidates["artist_key"], strict=True)
    )
