"""Training, threshold policy, artifacts, and the not-enough-history path."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import itertools
import json
import os
import pickle
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory, UserError
from pipeline.features import FEATURES, build_artist_months
from pipeline.labels import add_labels
from pipeline.prior import PRIOR_FEATURES
from pipeline.simulate import simulate_listener
from pipeline.train import (
    SHIPPED,
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
    bundle = train_model(table(), CFG, prior=None)  # the listener's own model
    meta = bundle.metadata
    assert bundle.kind in ("logistic", "xgboost", "blend") and meta["kind"] == bundle.kind
    assert bundle.features == FEATURES == meta["features"]
    assert 0.0 < bundle.threshold < 1.0
    for kind in ("logistic", "xgboost", "blend"):
        assert set(meta["metrics"][kind]) == {"validation", "test"}
        assert meta["metrics"][kind]["validation"]["rows"] > 0
    assert meta["n_positives"] >= CFG.min_positives and meta["n_rows"] > meta["n_positives"]
    assert meta["data_range"]["first_month"] < meta["data_range"]["last_month"]
    assert {"xgboost", "scikit-learn", "pandas"} <= set(meta["versions"])
    folds = meta["out_of_time_folds"]
    assert len(folds) >= 2 and all(a[1] < b[0] for a, b in itertools.pairwise(folds))
    assert meta["probability"] == "calibrated" and 0 < meta["base_rate"] < 1
    cal = meta["calibration"]
    assert cal["method"] == "platt" and cal["positives"] > 0 and isinstance(cal["shrunk"], bool)
    rows = table().query("eligible")
    proba = bundle.predict_proba(rows)
    assert proba.shape == (len(rows),) and ((proba > 0) & (proba < 1)).all()


def test_breakouts_only_early_in_the_history_still_train_a_model() -> None:
    labelled = table()
    periods = np.sort(labelled["period"].unique())
    late = labelled["period"] >= periods[len(periods) // 2]
    labelled.loc[late & (labelled["label"] == 1), "label"] = 0.0  # no breakout in the late half
    bundle = train_model(labelled, CFG, prior=None)
    folds = bundle.metadata["out_of_time_folds"]
    assert bundle.metadata["calibration"]["positives"] > 0
    assert folds[0][0] < labelled.loc[late, "month"].min()  # out-of-time months started earlier


def test_calibrated_probabilities_keep_the_ranking_of_the_log_odds() -> None:
    bundle = train_model(table(), CFG)
    rows = table().query("eligible")
    order = np.argsort(bundle.margin(rows), kind="stable")
    assert (np.diff(bundle.predict_proba(rows)[order]) >= -1e-12).all()


@pytest.mark.parametrize("prior", [None, SHIPPED])
def test_contributions_add_up_to_the_log_odds(prior) -> None:
    bundle = train_model(table(), CFG, prior=prior)
    rows = table().query("eligible").head(50)
    contrib = bundle.contributions(rows)
    assert list(contrib.columns) == [*(FEATURES if prior is None else PRIOR_FEATURES), "bias"]
    assert contrib.index.equals(rows.index)
    np.testing.assert_allclose(contrib.sum(axis=1), bundle.margin(rows), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["logistic", "xgboost", "blend"])
def test_every_kind_explains_itself(kind: str) -> None:
    from pipeline.train import fit_project_scorer, training_rows

    rows = training_rows(table(), CFG)
    bundle = fit_project_scorer(rows, CFG, kind)
    contrib = bundle.contributions(rows.head(10))
    np.testing.assert_allclose(contrib.sum(axis=1), bundle.margin(rows.head(10)), atol=1e-4)


@cache
def _bundle():
    return train_model(table(), CFG)


def test_save_load_round_trip(tmp_path: Path) -> None:
    bundle = _bundle()
    path = save_bundle(bundle, tmp_path / "model")
    assert path == tmp_path / "model" / "model.json"
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json"]
    loaded = load_bundle(tmp_path / "model")
    assert loaded is not None
    rows = table().query("eligible")
    np.testing.assert_allclose(loaded.predict_proba(rows), bundle.predict_proba(rows))
    np.testing.assert_allclose(
        loaded.contributions(rows).to_numpy(), bundle.contributions(rows).to_numpy(), atol=1e-6
    )
    assert loaded.threshold == bundle.threshold and loaded.kind == bundle.kind
    assert json.loads(json.dumps(loaded.metadata, default=str)) == json.loads(
        json.dumps(bundle.metadata, default=str)
    )
    payload = json.loads(path.read_text())
    assert payload["format"] == "breakout-artists-model" and payload["format_version"] == 2
    assert {item["type"] for item in payload["learners"]} <= {"logistic", "xgboost"}


def test_load_refuses_foreign_or_damaged_files(tmp_path: Path) -> None:
    assert load_bundle(tmp_path / "nothing") is None
    save_bundle(_bundle(), tmp_path / "m")
    model = tmp_path / "m" / "model.json"
    payload = json.loads(model.read_text())
    payload["learners"][0]["type"] = "pickle"
    model.write_text(json.dumps(payload))
    with pytest.raises(ModelFormatError, match="damaged"):
        load_bundle(tmp_path / "m")
    payload["learners"] = [{"type": "xgboost", "features": FEATURES, "offset": None,
                            "rounds": 1, "best_rounds": 1, "nthread": 1, "weight": 1.0,
                            "booster_ubj": "bm90IGEgYm9vc3Rlcg=="}]  # fmt: skip
    model.write_text(json.dumps(payload))
    with pytest.raises(ModelFormatError, match="damaged"):
        load_bundle(tmp_path / "m")
    model.write_text('{"format": "something-else"}')
    with pytest.raises(ModelFormatError, match="does not hold"):
        load_bundle(tmp_path / "m")
    model.write_text("not json")
    with pytest.raises(ModelFormatError):
        load_bundle(tmp_path / "m")
    model.write_text('{"format": "breakout-artists-model", "format_version": 1}')
    with pytest.raises(ModelFormatError, match="version 1"):
        load_bundle(tmp_path / "m")


class _Planted:
    """Unpickling this runs code: it would create the file `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_with_a_matching_checksum_is_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    models = tmp_path / "models"
    models.mkdir()
    blob = pickle.dumps({"format": "breakout-artists-model", "bundle": _Planted(marker)})
    (models / "model.joblib").write_bytes(blob)
    sidecar = {
        "format": "breakout-artists-model",
        "format_version": 1,
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    (models / "model.json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelFormatError):
        load_bundle(models)
    (models / "model.json").unlink()  # the pickle alone: still refused, still not run
    with pytest.raises(ModelFormatError, match="pickle"):
        load_bundle(models)
    assert not marker.exists()
    save_bundle(_bundle(), models)  # the next save replaces it and removes the pickle
    assert not (models / "model.joblib").exists() and load_bundle(models) is not None
    assert not marker.exists()


def test_a_planted_temporary_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    models = tmp_path / "models"
    models.mkdir()
    for name in ("model.json.tmp", ".model.json.tmp", "model.joblib.tmp", "model.tmp"):
        (models / name).symlink_to(victim)
    (models / "model.json.link").symlink_to(victim)
    save_bundle(_bundle(), models)
    assert victim.read_text() == "precious"
    assert not (models / "model.json").is_symlink() and load_bundle(models) is not None


def test_a_symlinked_model_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    models = tmp_path / "models"
    models.mkdir()
    (models / "model.json").symlink_to(victim)
    save_bundle(_bundle(), models)
    assert victim.read_text() == "precious" and not (models / "model.json").is_symlink()


def test_a_failed_save_keeps_the_old_model_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    save_bundle(_bundle(), models)
    before = (models / "model.json").read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    newer = dataclasses.replace(_bundle(), threshold=0.5)
    with pytest.raises(UserError, match=r"cannot save the model .*No space left on device"):
        save_bundle(newer, models)
    assert sorted(p.name for p in models.iterdir()) == ["model.json"]
    assert (models / "model.json").read_bytes() == before


def test_not_enough_history_and_fallback() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 10)]
    plays = [(f"{m}-02", "Filler", 3000) for m in months] + [("2024-07-05", "A", 4)]
    small = add_labels(build_artist_months(history(*plays), CFG), CFG)
    with pytest.raises(NotEnoughHistory, match=r"not enough history yet: 9 months, 0 breakouts"):
        train_model(small, CFG, prior=None)
    assert train_model(small, CFG).kind == "prior"  # the shipped prior's odds instead
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
