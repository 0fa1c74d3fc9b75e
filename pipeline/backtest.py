"""Walk-forward backtest: each month is scored by models trained only on labels known by then.

The models are refit every `cfg.backtest_refit_months` months (each fit scores the months up to
the next refit, trained only on labels known at the first of them). The project's log-odds become
probabilities through a calibrator fit on the walk-forward's own earlier months (only months whose
labels were known by then), and its alert threshold is set on those same earlier months. Months
before a model can be trained are ranked by the fallback ranking and get no probability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.calibration import (
    brier,
    expected_calibration_error,
    fit_calibrator,
    rate_adjusted,
    rate_ratio,
    smoothed_rate,
)
from pipeline.config import PipelineConfig
from pipeline.features import SEED_FEATURES, build_artist_months
from pipeline.labels import add_labels, n_periods
from pipeline.metrics import ranking_summary
from pipeline.models import LogisticModel, XGBoostModel, matrix, sigmoid
from pipeline.prior import Prior
from pipeline.train import (
    RECENT_MONTHS,
    choose_threshold,
    fallback_scores,
    fit_project_scorer,
    flag_floor,
    recent_rate,
)

# A scorer gets the training rows (labelled, of cfg.train_pool, after the cold start, known by
# then) and the rows to score; it returns one score per row, or None when it cannot be trained.
# The seed configuration keeps to eligible rows, as the seed's definitions say.
Scorer = Callable[[pd.DataFrame, pd.DataFrame, PipelineConfig], "np.ndarray | None"]
Progress = Callable[[int, int], None]

SEED_XGB_PARAMS = {"max_depth": 3, "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8}
SEED_XGB_ROUNDS = 200
PREDICTION_COLUMNS = [
    "month",
    "artist_key",
    "artist",
    "probability",
    "above_threshold",
    "label",
    "score",
    "fitted",
]


@dataclass
class BacktestResult:
    """Per-row predictions, the report comparing the model to baselines, every scorer's scores.

    `predictions`: month (YYYY-MM), artist_key, artist, probability (calibrated, out of time;
    NaN in months scored by the fallback ranking), above_threshold (bool), label (1/0), score
    (the ranking score: the month's model's uncalibrated probability, the fallback ranking where no
    model existed yet; same order as probability within a month), fitted (bool: a model scored
    this month).
    """

    predictions: pd.DataFrame
    report: dict
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)


def _trainable(train: pd.DataFrame, cfg: PipelineConfig) -> bool:
    pos = int(train["label"].sum())
    return pos >= cfg.min_positives and pos < len(train)


def project_margin(train: pd.DataFrame, rows: pd.DataFrame, cfg: PipelineConfig):
    """The project's blend (uncalibrated log-odds), refit on every month's training rows."""
    if not _trainable(train, cfg):
        return None
    return fit_project_scorer(train, cfg).margin(rows)


def seed_lr_scorer(train: pd.DataFrame, rows: pd.DataFrame, cfg: PipelineConfig):
    """The seed configuration: its 13 features, scaled, class-weighted logistic regression."""
    train = train[train["eligible"].to_numpy()]
    if not _trainable(train, cfg):
        return None
    # the seed scaled raw values (no log transform) with sklearn's default C
    model = LogisticModel(cfg, c=1.0, log=False, balanced=True)
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
    """Naive rankings, the fallback ranking and the seed configuration."""
    return {
        "naive_share": lambda tr, rows, cfg: rows["share_t"].to_numpy(),
        "naive_plays": lambda tr, rows, cfg: rows["plays_t"].to_numpy(),
        "fallback": lambda tr, rows, cfg: fallback_scores(rows).to_numpy(),
        "seed_lr": seed_lr_scorer,
        "seed_xgb": seed_xgb_scorer,
    }


def walk_forward(
    table: pd.DataFrame,
    cfg: PipelineConfig,
    scorers: dict[str, Scorer],
    project: Scorer | None = project_margin,
    progress: Progress | None = None,
    prior: Prior | None = None,
) -> pd.DataFrame:
    """Scores of every eligible row from the first month after the cold start to the last
    labelled month; a scorer that cannot be trained yet falls back to fallback_scores. With
    `project` (a scorer of log-odds), adds the calibrated `project` column (see `calibrate`);
    with a cross-listener `prior`, the prior ranks every month (as train_model does with one):
    its log-odds are the project's, and no listener model is fit."""
    last = n_periods(table) - 1 - cfg.horizon
    elig = table[table["eligible"].to_numpy()]
    pool = table[table[cfg.train_pool].to_numpy()]
    learn = pool[pool["label"].notna().to_numpy() & (pool["period"] >= cfg.cold_start_months)]
    rows_all = elig[(elig["period"] >= cfg.cold_start_months) & (elig["period"] <= last)]
    out = rows_all[["month", "artist", "artist_key", "period", "label"]].copy()
    out["fallback_score"] = fallback_scores(rows_all).to_numpy()
    if project and prior is not None:
        out["prior_margin"] = prior.margin(rows_all)
    own_model = project and prior is None
    named = {**({"project_margin": project} if own_model else {}), **scorers}
    columns = {name: np.zeros(len(out)) for name in named}
    fitted = {name: np.zeros(len(out), dtype=bool) for name in named}
    periods = out["period"].to_numpy()
    months = np.unique(periods)
    # one fit per block of `backtest_refit_months` months, trained on labels known at its start
    step = max(1, cfg.backtest_refit_months)
    blocks = [months[i : i + step] for i in range(0, len(months), step)]
    for i, block in enumerate(blocks):
        idx = np.flatnonzero(np.isin(periods, block))
        rows = rows_all.iloc[idx]
        train = learn[learn["period"] <= block[0] - cfg.horizon]
        for name, scorer in named.items():
            scores = scorer(train, rows, cfg)
            fitted[name][idx] = scores is not None
            if scores is not None:
                columns[name][idx] = scores
            elif name != "project_margin":
                columns[name][idx] = fallback_scores(rows)
        if progress:
            progress(min((i + 1) * step, len(months)), len(months))
    for name in named:
        out[name] = columns[name]
        out[f"{name}_fitted"] = fitted[name]
    if "prior_margin" in out:
        out["project_margin"], out["project_margin_fitted"] = out["prior_margin"], True
    out = out.reset_index(drop=True)
    if project:
        out = calibrate(out, learn, cfg)
    return out


def calibrate(scores: pd.DataFrame, learn: pd.DataFrame, cfg: PipelineConfig) -> pd.DataFrame:
    """Month by month: a calibrator and a threshold from the earlier months' out-of-time margins
    whose labels were known by then (periods <= m - horizon); adds `probability` (NaN without a
    model), `above_threshold`, `threshold`, and `project` (the ranking score). With a
    `prior_margin` column (the prior ranks), its odds are scaled by the listener's recent months
    known then (rate_ratio) and flags need odds clearly above the recent base rate (flag_floor),
    as train_model does."""
    out = scores.copy()
    period = out["period"].to_numpy()
    margin = out["project_margin"].to_numpy()
    fitted = out["project_margin_fitted"].to_numpy()
    label = out["label"].to_numpy(dtype="float64")
    by_prior = "prior_margin" in out
    prob = np.full(len(out), np.nan)
    threshold = np.full(len(out), np.inf)
    budget = np.full(len(out), np.inf)
    base_rates, recent_rates = np.full(len(out), np.nan), np.full(len(out), np.nan)
    elig = learn[learn["eligible"].to_numpy()]
    for m in np.unique(period[fitted]):
        now = period == m
        known = fitted & (period <= m - cfg.horizon)
        base = elig[elig["period"].to_numpy() <= m - cfg.horizon]
        base_rate = smoothed_rate(base["label"].sum(), len(base))
        base_rates[now] = base_rate
        rate = recent_rates[now] = recent_rate(base)
        if by_prior:
            recent = known & (period > m - cfg.horizon - RECENT_MONTHS)
            ratio = rate_ratio(sigmoid(margin[recent]), label[recent])
            prob[now] = rate_adjusted(ratio, base_rate, int(recent.sum())).apply(margin[now])
            threshold[now] = flag_floor(rate)
            continue
        cal = fit_calibrator(margin[known], label[known], base_rate)
        prob[now] = cal.apply(margin[now])
        if known.any() and label[known].sum() >= 1:
            past = cal.apply(margin[known])
            budget[now] = choose_threshold(period[known], label[known], past, cfg)[0]
            threshold[now] = budget[now]
    out["probability"] = prob
    out["threshold"] = threshold
    out["base_rate"] = base_rates
    out["recent_rate"], out["budget_threshold"] = recent_rates, budget
    out["above_threshold"] = fitted & (prob >= threshold)
    # ranking metrics pool months: rank by the month's model (the calibrators of different
    # months would otherwise reorder months against each other); the prior by its odds
    ranking = prob if by_prior else sigmoid(margin)
    out["project"] = np.where(fitted, ranking, out["fallback_score"].to_numpy())
    out["project_fitted"] = fitted
    return out


def calibration_summary(y: np.ndarray, p: np.ndarray, base_rate: np.ndarray) -> dict:
    """ECE (10 equal-count bins), mean predicted vs observed, Brier beside two constants: the
    observed rate of these very rows (hindsight) and the base rate known at the time."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    rate = float(y.mean()) if len(y) else None
    return {
        "brier_base_rate": brier(y, np.asarray(base_rate, dtype="float64")),
        "rows": len(y),
        "ece": expected_calibration_error(y, p),
        "mean_predicted": float(p.mean()) if len(p) else None,
        "observed_rate": rate,
        "brier": brier(y, p),
        "brier_constant": brier(y, np.full(len(y), rate)) if len(y) else None,
    }


def build_report(scores: pd.DataFrame, names: list[str]) -> dict:
    """Pooled metrics of each scorer on exactly the same rows, and the project's calibration."""
    y = scores["label"].to_numpy()
    models = {n: ranking_summary(scores["month"], y, scores[n].to_numpy()) for n in names}
    report = {
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
    if "probability" in scores:
        fitted = scores["project_fitted"].to_numpy()
        report["calibration"] = calibration_summary(
            y[fitted], scores["probability"][fitted], scores["base_rate"][fitted]
        )
        flagged = scores["above_threshold"].to_numpy()
        hits = int(y[flagged].sum())
        report["flagged"] = {
            "count": int(flagged.sum()),
            "became_core": hits,
            "hit_rate": hits / int(flagged.sum()) if flagged.any() else None,
            "base_rate": float(y[fitted].mean()) if fitted.any() else None,
        }
    return report


def run_backtest(
    scrobbles: pd.DataFrame,
    cfg: PipelineConfig | None = None,
    extra: dict[str, Scorer] | None = None,
    progress: Progress | None = None,
    baselines: bool = True,
    prior: Prior | None = None,
) -> BacktestResult:
    """Features once (leakage-free), then month-by-month training and scoring; see module doc.
    `progress(months_done, months)` is called after each refit. With a cross-listener `prior`
    the replay follows the live policy: the prior ranks every month, its odds scaled by the
    listener's months known then, and the flag floor (never pass a prior that saw this
    listener)."""
    cfg = cfg or PipelineConfig()
    table = add_labels(build_artist_months(scrobbles, cfg), cfg)
    scorers = {**(baseline_scorers() if baselines else {}), **(extra or {})}
    scores = walk_forward(table, cfg, scorers, progress=progress, prior=prior)
    report = build_report(scores, ["project", *scorers])
    preds = scores.assign(score=scores["project"], fitted=scores["project_fitted"])
    preds = preds[PREDICTION_COLUMNS].sort_values(
        ["month", "score", "artist_key"], ascending=[True, False, True], kind="stable"
    )
    return BacktestResult(predictions=preds.reset_index(drop=True), report=report, scores=scores)
