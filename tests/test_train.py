"""Training, threshold policy, artifacts, and the not-enough-history path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory
from pipeline.features import FEATURES, build_artist_months
from pipeline.labels import add_labels
from pipeline.simulate import simulate_listener
from pipeline.train import (
    ModelFormatError,
    choose_threshold,
    fallback_scores,
    load_bundle,
    save_bundle,
    train_model,
)
from tests.test_features import history

CFG = PipelineConfig()


@cache
def _table() -> pd.DataFrame:
    scrobbles = simulate_listener(3, 24, datetime(2024, 6, 15, tzinfo=UTC))
    return add_labels(build_artist_months(scrobbles, CFG), CFG)


def table() -> pd.DataFrame:
    """A labelled two-year simulated history (built once)."""
    return _table().copy()


def test_train_model_metadata_and_scores() -> None:
    bundle = train_model(table(), CFG)
    meta = bundle.metadata
    assert bundle.kind in ("logistic", "xgboost", "blend") and meta["kind"] == bundle.kind
    assert bundle.features == FEATURES == meta["features"]
    assert 0.0 < bundle.threshold < 1.0
    for kind in ("logistic", "xgboost", "blend"):
        assert set(meta["metrics"][kind]) == {"validation", "test"}
    assert meta["n_positives"] >= CFG.min_positives and meta["n_rows"] > meta["n_positives"]
    assert meta["data_range"]["first_month"] < meta["data_range"]["last_month"]
    assert {"xgboost", "scikit-learn", "pandas"} <= set(meta["versions"])
    train_end = meta["split_months"]["train"][1]
    assert train_end < meta["split_months"]["validation"][0]
    rows = table().query("eligible")
    proba = bundle.predict_proba(rows)
    assert proba.shape == (len(rows),) and ((proba > 0) & (proba < 1)).all()


def test_contributions_add_up_to_the_log_odds() -> None:
    bundle = train_model(table(), CFG)
    rows = table().query("eligible").head(50)
    contrib = bundle.contributions(rows)
    assert list(contrib.columns) == [*FEATURES, "bias"]
    assert contrib.index.equals(rows.index)
    np.testing.assert_allclose(contrib.sum(axis=1), bundle.margin(rows), rtol=1e-4, atol=1e-4)
    proba = 1 / (1 + np.exp(-contrib.sum(axis=1).to_numpy()))
    np.testing.assert_allclose(proba, bundle.predict_proba(rows), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["logistic", "xgboost", "blend"])
def test_every_kind_explains_itself(kind: str) -> None:
    from pipeline.train import fit_project_scorer, training_rows

    rows = training_rows(table(), CFG)
    bundle = fit_project_scorer(rows, CFG, kind)
    contrib = bundle.contributions(rows.head(10))
    np.testing.assert_allclose(contrib.sum(axis=1), bundle.margin(rows.head(10)), atol=1e-4)


def test_save_load_round_trip(tmp_path: Path) -> None:
    bundle = train_model(table(), CFG)
    path = save_bundle(bundle, tmp_path / "model")
    assert path.exists() and (tmp_path / "model" / "model.json").exists()
    loaded = load_bundle(tmp_path / "model")
    assert loaded is not None
    rows = table().query("eligible")
    np.testing.assert_allclose(loaded.predict_proba(rows), bundle.predict_proba(rows))
    assert loaded.threshold == bundle.threshold and loaded.metadata == bundle.metadata
    sidecar = json.loads((tmp_path / "model" / "model.json").read_text())
    assert (
        sidecar["format"] == "breakout-artists-model" and sidecar["threshold"] == bundle.threshold
    )


def test_load_refuses_foreign_or_tampered_files(tmp_path: Path) -> None:
    assert load_bundle(tmp_path / "nothing") is None
    bundle = train_model(table(), CFG)
    save_bundle(bundle, tmp_path / "m")
    model = tmp_path / "m" / "model.joblib"
    model.write_bytes(model.read_bytes() + b"x")
    with pytest.raises(ModelFormatError, match="does not match"):
        load_bundle(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelFormatError, match="does not hold"):
        load_bundle(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("not json")
    with pytest.raises(ModelFormatError):
        load_bundle(tmp_path / "m")


def test_not_enough_history_and_fallback() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 10)]
    plays = [(f"{m}-02", "Filler", 3000) for m in months] + [("2024-07-05", "A", 4)]
    small = add_labels(build_artist_months(history(*plays), CFG), CFG)
    with pytest.raises(NotEnoughHistory, match=r"not enough history yet: 9 months, 0 breakouts"):
        train_model(small, CFG)
    scores = fallback_scores(small)
    assert scores.index.equals(small.index)
    assert ((scores >= 0) & (scores <= 1)).all()
    a = small[small["artist_key"] == "a"]
    assert scores[a.index].max() == pytest.approx(4 / 20)


def test_threshold_respects_the_alert_budget() -> None:
    rng = np.random.default_rng(1)
    month = np.repeat(np.arange(10), 20)
    y = (rng.random(200) < 0.1).astype(float)
    score = rng.random(200) + y * 0.5
    threshold, info = choose_threshold(month, y, score, CFG)
    alerts = pd.Series(score >= threshold).groupby(month).sum()
    assert alerts.median() <= CFG.alert_budget
    assert ((score >= threshold) & (y == 1)).sum() >= 1
    assert info["policy"] == "budget"
