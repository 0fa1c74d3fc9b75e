"""Reasons agree with themselves on real candidates: every candidate of the five shared
histories (several scoring dates each) and a property test over the demo listener's.

They also agree with the model: a fact is listed on the side its contribution is on (a tail like
"3× your previous 3-month average" is never a drag when those features raise the odds), and every
flagged artist, and the top of the list, has at least one thing that points to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import PipelineConfig
from pipeline.importers import read_history
from pipeline.labels import add_labels
from pipeline.score import Scored, monthly_table, score_artists
from pipeline.simulate import simulate_listener
from pipeline.train import ModelBundle, train_model
from tests.conftest import shared_history
from tests.test_reasons import assert_reasons_agree

pytestmark = pytest.mark.slow  # a long end-to-end run: `-m "not slow"` skips it
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


def assert_signs_agree(scored: Scored, by_model: bool = True) -> None:
    """Each shown tail pushes the way its reason does; with a model, flagged artists, and the
    top of the list when it is above its window's typical new artist, have at least one reason
    that points to them (reasons are measured against that typical artist: one who is not has
    none). The fallback ranking's reasons are not its ranking (README "Known limitations")."""
    reasons = scored.reasons
    shown = reasons[reasons["tail"].notna()]
    assert (np.sign(shown["tail"]) * np.sign(shown["contribution"]) >= 0).all(), shown
    cands = scored.candidates
    if cands.empty or not by_model:
        return
    pointing = reasons[reasons["contribution"] > 0]
    up = set(zip(pointing["window"], pointing["artist_key"], strict=True))
    log_odds = np.log(cands["probability"] / (1 - cands["probability"]))
    above_typical = log_odds > log_odds.groupby(cands["window"]).transform("mean") + 1e-9
    must = cands[
        (cands["rank"] > 0) & (cands["above_threshold"] | (cands["rank"] == 1) & above_typical)
    ]
    missing = [k for k in zip(must["window"], must["artist_key"], strict=True) if k not in up]
    assert not missing, missing


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
        assert_signs_agree(scored)
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
    assert_signs_agree(scored, by_model=with_model)
    shown = set(zip(scored.reasons["window"], scored.reasons["artist_key"], strict=True))
    assert shown <= set(
        zip(scored.candidates["window"], scored.candidates["artist_key"], strict=True)
    )
