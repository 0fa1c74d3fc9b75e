"""Walk-forward backtest: each month is scored by models trained only on labels known by then."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.features import SEED_FEATURES, build_artist_months
from pipeline.labels import add_labels, n_periods
from pipeline.metrics import ranking_summary
from pipeline.models import LogisticModel, XGBoostModel, matrix
from pipeline.train import fallback_scores, fit_project_scorer

# A scorer gets the training rows (labelled, of cfg.train_pool, after the cold start, known by
# then) and the rows to score; it returns one score per row, or None when it cannot be trained.
# The seed configuration keeps to eligible rows, as the seed's definitions say.
Scorer = Callable[[pd.DataFrame, pd.DataFrame, PipelineConfig], "np.ndarray | None"]

SEED_XGB_PARAMS = {"max_depth": 3, "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8}
SEED_XGB_ROUNDS = 200


@dataclass
class BacktestResult:
    """Predictions (month, artist, score) and the report comparing the model to baselines."""

    predictions: pd.DataFrame
    report: dict
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)


def _trainable(train: pd.DataFrame, cfg: PipelineConfig) -> bool:
    pos = int(train["label"].sum())
    return pos >= cfg.min_positives and pos < len(train)


def project_scorer(train: pd.DataFrame, rows: pd.DataFrame, cfg: PipelineConfig):
    """The project's model as trained by train_model, without the split (refit every month)."""
    if not _trainable(train, cfg):
        return None
    return fit_project_scorer(train, cfg).predict(rows)


def seed_lr_scorer(train: pd.DataFrame, rows: pd.DataFrame, cfg: PipelineConfig):
    """The seed configuration: its 13 features, scaled, class-weighted logistic regression."""
    train = train[train["eligible"].to_numpy()]
    if not _trainable(train, cfg):
        return None
    # the seed scaled raw values (no log transform) with sklearn's default C
    model = LogisticModel(cfg, c=1.0, log=False)
    model.fit(matrix(train, SEED_FEATURES), train["label"].to_numpy())
    return model.predict(matrix(rows, SEED_FEATURES))


def seed_xgb_scorer(train: pd.DataFrame, rows: pd.DataFrame, cfg: PipelineConfig):
    """The seed configuration: its 13 features, XGBoost depth 3, eta .05, scale_pos_weight."""
    train = train[train["eligible"].to_numpy()]
    if not _trainable(train, cfg):
        return None
    model = XGBoostModel(cfg, SEED_FEATURES, rounds=SEED_XGB_ROUNDS, params=SEED_XGB_PARAMS)
    model.fit(matrix(train, SEED_FEATURES), train["label"].to_numpy())
    return model.predict(matrix(rows, SEED_FEATURES))


def baseline_scorers() -> dict[str, Scorer]:
    """Naive rankings and the seed configuration, compared to the project's model."""
    return {
        "naive_share": lambda tr, rows, cfg: rows["share_t"].to_numpy(),
        "naive_plays": lambda tr, rows, cfg: rows["plays_t"].to_numpy(),
        "seed_lr": seed_lr_scorer,
        "seed_xgb": seed_xgb_scorer,
    }


def walk_forward(
    table: pd.DataFrame, cfg: PipelineConfig, scorers: dict[str, Scorer]
) -> pd.DataFrame:
    """Scores of every eligible row from the first month after the cold start to the last
    labelled month; a scorer that cannot be trained yet falls back to fallback_scores."""
    n_p = n_periods(table)
    last = n_p - 1 - cfg.horizon
    elig = table[table["eligible"].to_numpy()]
    pool = table[table[cfg.train_pool].to_numpy()]
    learn = pool[pool["label"].notna().to_numpy() & (pool["period"] >= cfg.cold_start_months)]
    rows_all = elig[(elig["period"] >= cfg.cold_start_months) & (elig["period"] <= last)]
    out = rows_all[["month", "artist", "artist_key", "period", "label"]].copy()
    columns = {name: np.zeros(len(out)) for name in scorers}
    fitted = {name: np.zeros(len(out), dtype=bool) for name in scorers}
    periods = out["period"].to_numpy()
    for m in np.unique(periods):
        idx = np.flatnonzero(periods == m)
        rows = rows_all.iloc[idx]
        train = learn[learn["period"] <= m - cfg.horizon]
        for name, scorer in scorers.items():
            scores = scorer(train, rows, cfg)
            fitted[name][idx] = scores is not None
            columns[name][idx] = fallback_scores(rows) if scores is None else scores
    for name in scorers:
        out[name] = columns[name]
        out[f"{name}_fitted"] = fitted[name]
    return out.reset_index(drop=True)


def build_report(scores: pd.DataFrame, names: list[str]) -> dict:
    """Pooled metrics of each scorer on exactly the same rows."""
    y = scores["label"].to_numpy()
    models = {n: ranking_summary(scores["month"], y, scores[n].to_numpy()) for n in names}
    return {
        "rows": len(scores),
        "positives": int(y.sum()),
        "months": int(scores["month"].nunique()),
        "first_month": scores["month"].min() if len(scores) else None,
        "last_month": scores["month"].max() if len(scores) else None,
        "months_scored_by_fallback": int(scores.loc[~scores["project_fitted"], "month"].nunique())
        if "project_fitted" in scores
        else None,
        "models": models,
    }


def run_backtest(
    scrobbles: pd.DataFrame,
    cfg: PipelineConfig | None = None,
    extra: dict[str, Scorer] | None = None,
) -> BacktestResult:
    """Features once (leakage-free), then month-by-month training and scoring; see module doc."""
    cfg = cfg or PipelineConfig()
    table = add_labels(build_artist_months(scrobbles, cfg), cfg)
    scorers: dict[str, Scorer] = {"project": project_scorer, **baseline_scorers(), **(extra or {})}
    scores = walk_forward(table, cfg, scorers)
    report = build_report(scores, list(scorers))
    preds = scores[["month", "artist"]].copy()
    preds["score"] = scores["project"].to_numpy()
    preds = preds.sort_values(["month", "score"], ascending=[True, False], kind="stable")
    return BacktestResult(predictions=preds.reset_index(drop=True), report=report, scores=scores)
