"""The walk-forward backtest and `breakout backtest`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.cli import main
from pipeline.backtest import run_backtest
from pipeline.config import PipelineConfig
from pipeline.features import build_artist_months
from pipeline.importers import read_history
from pipeline.labels import add_labels
from pipeline.simulate import simulate_listener
from tests.conftest import shared_history

CFG = PipelineConfig()
MODELS = {"project", "naive_share", "naive_plays", "fallback", "seed_lr", "seed_xgb"}
COLUMNS = [
    "month",
    "artist_key",
    "artist",
    "probability",
    "above_threshold",
    "label",
    "score",
    "fitted",
]
METRICS = {"average_precision", "prevalence", "lift", "roc_auc", "precision_at_3"}


def scrobbles() -> pd.DataFrame:
    """A simulated two-year listener."""
    return simulate_listener(11, 24, datetime(2024, 6, 15, tzinfo=UTC))


def test_backtest_rows_columns_and_report() -> None:
    frame = scrobbles()
    result = run_backtest(frame, CFG)
    preds = result.predictions
    assert list(preds.columns) == COLUMNS
    table = add_labels(build_artist_months(frame, CFG), CFG)
    last = table["period"].max() - CFG.horizon
    expected = table[
        table["eligible"] & (table["period"] >= CFG.cold_start_months) & (table["period"] <= last)
    ]
    assert len(preds) == len(expected) == result.report["rows"]
    pairs = set(zip(preds["month"], preds["artist"], strict=True))
    assert pairs == set(zip(expected["month"], expected["artist"], strict=True))
    assert preds["month"].min() == expected["month"].min()
    assert np.isfinite(preds["score"]).all()
    fitted = preds["fitted"].to_numpy()
    assert fitted.any() and preds["probability"][~fitted].isna().all()
    assert preds["probability"][fitted].between(0, 1).all()
    assert not preds["above_threshold"][~fitted].any() and preds["above_threshold"].any()
    assert set(preds["label"].unique()) <= {0.0, 1.0}
    cal = result.report["calibration"]
    assert cal["rows"] == int(fitted.sum()) and 0 <= cal["ece"] < 0.5
    flagged = result.report["flagged"]
    assert flagged["count"] == int(preds["above_threshold"].sum())
    assert set(result.report["models"]) == MODELS
    for metrics in result.report["models"].values():
        assert set(metrics) == METRICS
        assert metrics["prevalence"] == pytest.approx(expected["label"].mean())
    assert result.report["positives"] == int(expected["label"].sum())


def test_months_without_a_model_use_the_fallback() -> None:
    result = run_backtest(scrobbles(), CFG)
    scores = result.scores
    early = scores[~scores["project_fitted"]]
    assert len(early) > 0 and result.report["months_scored_by_fallback"] >= 1
    np.testing.assert_allclose(early["project"], np.clip(early["project"], 0, 1))
    assert scores["project_fitted"].any()


def test_cli_backtest_writes_predictions_report_and_chart(tmp_path: Path, capsys) -> None:
    frame = scrobbles()
    src = tmp_path / "history.csv"
    ghan = pd.DataFrame(
        {
            "uts": frame["ts"],
            "utc_time": pd.to_datetime(frame["ts"], unit="s").dt.strftime("%d %b %Y, %H:%M"),
            "artist": frame["artist"],
            "artist_mbid": "",
            "album": frame["album"],
            "album_mbid": "",
            "track": frame["track"],
            "track_mbid": "",
        }
    )
    ghan.to_csv(src, index=False)
    out, report, chart = tmp_path / "p.csv", tmp_path / "r.json", tmp_path / "c.png"
    code = main(
        ["backtest", str(src), "--out", str(out), "--report", str(report), "--chart", str(chart)]
    )
    assert code == 0
    preds = pd.read_csv(out)
    assert list(preds.columns) == COLUMNS and len(preds) > 0
    data = json.loads(report.read_text())
    assert data["rows"] == len(preds) and set(data["models"]) == MODELS
    assert data["ranked_by"] == "prior"  # as the bot ranks: the prior never saw this history
    assert chart.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr()
    assert "project model" in printed.out and "calibration" in printed.out
    assert "backtest" in printed.err  # the progress bar


def test_cli_backtest_writes_default_files_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    frame = scrobbles()
    src = tmp_path / "in" / "my-history.csv"
    src.parent.mkdir()
    frame.rename(columns={"ts": "uts"}).assign(utc_time="", artist_mbid="").to_csv(src, index=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["backtest", str(src)]) == 0
    assert sorted(p.name for p in work.iterdir()) == [
        "backtest-my-history.csv",
        "backtest-my-history.json",
    ]
    report = json.loads((work / "backtest-my-history.json").read_text())
    assert report["rows"] == len(pd.read_csv(work / "backtest-my-history.csv"))
    assert "backtest-my-history.csv" in capsys.readouterr().out


def test_cli_backtest_missing_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    code = main(["backtest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "p.csv")])
    assert code != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.shared_data
def test_backtest_on_a_shared_history() -> None:
    frame = read_history(shared_history("pavelgar.csv")).frame
    result = run_backtest(frame, CFG)
    models = result.report["models"]
    assert result.report["rows"] == len(result.predictions) > 100
    assert result.report["positives"] >= 5
    best_baseline = max(m["average_precision"] for k, m in models.items() if k != "project")
    assert models["project"]["average_precision"] >= best_baseline


def test_a_too_short_history_is_a_clear_error(tmp_path: Path, capsys) -> None:
    frame = scrobbles()
    short = frame[frame["ts"] < frame["ts"].min() + 120 * 86_400]
    assert run_backtest(short, CFG).predictions.empty
    src = tmp_path / "short.csv"
    short.rename(columns={"ts": "uts"}).assign(utc_time="", artist_mbid="").to_csv(src, index=False)
    out = tmp_path / "p.csv"
    assert main(["backtest", str(src), "--out", str(out)]) == 1
    assert "too short for a backtest" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.shared_data
@pytest.mark.slow
def test_a_history_the_prior_trained_on_is_replayed_without_it(tmp_path: Path, capsys) -> None:
    out = tmp_path / "p.csv"
    assert main(["backtest", str(shared_history("pavelgar.csv")), "--out", str(out)]) == 0
    assert "pavelgar.csv helped train the shipped prior" in capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["ranked_by"] == "own model"
