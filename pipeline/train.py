"""Training: LR, XGBoost and their blend compared on out-of-time folds, calibrated, thresholded.

The blend's members are fit once per fold; "logistic", "xgboost" and "blend" are combinations of
the same fitted members. Out-of-time fold predictions choose the kind, fit the calibrator and set
the threshold; the chosen kind is then refit once on every labelled month.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from pipeline.artifacts import (  # re-exported: the model's public home is pipeline.train
    FORMAT,
    FORMAT_VERSION,
    MODEL_FILE,
    ModelBundle,
    ModelFormatError,
    load_bundle,
    save_bundle,
)
from pipeline.calibration import brier, expected_calibration_error, fit_calibrator
from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory
from pipeline.features import FEATURES
from pipeline.labels import add_labels, n_periods
from pipeline.metrics import pr_auc, roc_auc
from pipeline.models import LogisticModel, XGBoostModel, matrix

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "MODEL_FILE",
    "ModelBundle",
    "ModelFormatError",
    "fallback_scores",
    "fit_project_scorer",
    "load_bundle",
    "save_bundle",
    "train_model",
    "training_rows",
]

KINDS = ("logistic", "xgboost", "blend")
# members of each kind; each member weighs the same within a kind
KIND_MEMBERS = {"logistic": ("lr",), "xgboost": ("trees",), "blend": ("lr", "trees", "prior")}

# Signs the trees must respect: more listening never lowers the score, a longer silence never
# raises it. Keeps the trees sensible where a listener's history is thin.
MONOTONE: dict[str, int] = {
    "core_progress_t": 1,
    "core_progress_prev_t": 1,
    "core_progress_3m_mean": 1,
    "cum_progress_t": 1,
    "recent_progress_t": 1,
    "core_chance_t": 1,
    "core_chance_recent_t": 1,
    "core_chance_avg_t": 1,
    "core_chance_mix_t": 1,
    "days_active_t": 1,
    "last_play_gap_days_t": -1,
}
# The prior the offset trees start from: P(Poisson(recent pace) >= plays needed for core).
PRIOR_FEATURE = "core_chance_mix_t"


def fallback_scores(table: pd.DataFrame) -> pd.Series:
    """Transparent ranking used before a model can be trained: progress towards the core bar,
    plays_t / min(20, 1 % of the month's scrobbles) — i.e. how close the artist already is to
    becoming core this month (0 = not played, 1 = core)."""
    return pd.Series(
        np.clip(table["core_progress_t"].to_numpy(dtype="float64"), 0.0, 1.0),
        index=table.index,
        name="fallback",
    )


def fit_members(
    train: pd.DataFrame, cfg: PipelineConfig, members: tuple[str, ...] = ("lr", "trees", "prior")
) -> dict[str, list[tuple[object, float]]]:
    """Fit each member once: "lr" logistic regression, "trees" monotone XGBoost bags, "prior"
    monotone XGBoost bags correcting the Poisson prior `core_chance_mix_t`."""
    x, y = matrix(train, FEATURES), train["label"].to_numpy(dtype="float64")
    w = recency_weights(train["period"].to_numpy(), cfg)
    out: dict[str, list[tuple[object, float]]] = {}
    if "lr" in members:
        lr = LogisticModel(cfg, balanced=cfg.class_weighting)
        out["lr"] = [(lr.fit(x, y, w), 1.0)]
    for name, offset in (("trees", None), ("prior", PRIOR_FEATURE)):
        if name not in members:
            continue
        bags = []
        # several subsampling seeds per tree model: averages away the luck of one draw
        for bag in range(cfg.xgb_bags):
            model = XGBoostModel(
                cfg,
                FEATURES,
                params={"seed": cfg.seed + bag, "min_child_weight": cfg.xgb_min_child_weight},
                monotone=MONOTONE,
                offset=offset,
                balanced=cfg.class_weighting,
            )
            bags.append((model.fit(x, y, weight=w), 1.0 / cfg.xgb_bags))
        out[name] = bags
    return out


def combine(members: dict[str, list[tuple[object, float]]], kind: str) -> ModelBundle:
    """An uncalibrated bundle of `kind` from fitted members (each member weighs the same)."""
    names = KIND_MEMBERS[kind]
    learners = [(m, w / len(names)) for n in names for m, w in members[n]]
    return ModelBundle(kind, list(FEATURES), float("nan"), learners)


def member_margins(
    members: dict[str, list[tuple[object, float]]], frame: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Each fitted member's log-odds of the rows of `frame`."""
    x = matrix(frame, FEATURES)
    return {name: sum(w * m.margin(x) for m, w in parts) for name, parts in members.items()}


def fit_project_scorer(train: pd.DataFrame, cfg: PipelineConfig, kind: str = "blend"):
    """Fit the project's learner(s) of `kind` on labelled rows (uncalibrated, no threshold)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return combine(fit_members(train, cfg, KIND_MEMBERS[kind]), kind)


def recency_weights(period: np.ndarray, cfg: PipelineConfig) -> np.ndarray | None:
    """0.5 ** (months before the newest training month / half-life); None when disabled."""
    if cfg.recency_half_life is None or len(period) == 0:
        return None
    return 0.5 ** ((period.max() - period) / cfg.recency_half_life)


def choose_threshold(month: np.ndarray, y: np.ndarray, score: np.ndarray, cfg: PipelineConfig):
    """Seed policy: median alerts per month <= budget, >= 1 true positive, best F-beta."""
    months, inverse = np.unique(month, return_inverse=True)
    candidates = np.unique(score)[::-1]
    above = score[None, :] >= candidates[:, None]
    per_month = np.stack(
        [np.bincount(inverse, weights=row, minlength=len(months)) for row in above]
    )
    median_alerts = np.median(per_month, axis=1)
    tp = (above & (y[None, :] == 1)).sum(axis=1)
    alerts = above.sum(axis=1)
    precision = tp / np.maximum(alerts, 1)
    recall = tp / max(y.sum(), 1)
    b2 = cfg.f_beta**2
    f = (1 + b2) * precision * recall / np.maximum(b2 * precision + recall, 1e-12)
    ok = (median_alerts <= cfg.alert_budget) & (tp >= 1)
    if ok.any():
        best = int(np.argmax(np.where(ok, f, -1.0)))
        return float(candidates[best]), {"f_beta": float(f[best]), "policy": "budget"}
    within = np.flatnonzero(median_alerts <= cfg.alert_budget)
    best = int(within[-1]) if len(within) else 0
    return float(candidates[best]), {"f_beta": float(f[best]), "policy": "budget-no-tp"}


def training_rows(table: pd.DataFrame, cfg: PipelineConfig, pool: str = "eligible"):
    """Labelled rows of `pool` ("eligible" or "learnable") after the cold start."""
    if "label" not in table:
        table = add_labels(table, cfg)
    keep = table[pool].to_numpy() & table["label"].notna().to_numpy()
    keep &= table["period"].to_numpy() >= cfg.cold_start_months
    return table[keep]


def fold_blocks(months: np.ndarray, cfg: PipelineConfig) -> list[np.ndarray]:
    """The out-of-time blocks: the months after the first `split[0]` share, in `folds` blocks."""
    n_first = max(1, round(cfg.split[0] * len(months)))
    rest = months[n_first:]
    return [b for b in np.array_split(rest, min(cfg.calibration_folds, len(rest))) if len(b)]


def out_of_time(rows: pd.DataFrame, pool: pd.DataFrame, cfg: PipelineConfig) -> pd.DataFrame:
    """Each block's eligible rows with the margins of every kind, from members trained only on
    labels known before the block began (periods <= block start - horizon)."""
    parts = []
    for fold, block in enumerate(fold_blocks(np.unique(rows["period"].to_numpy()), cfg)):
        train = pool[pool["period"] <= block[0] - cfg.horizon]
        if train["label"].sum() < 1 or train["label"].sum() == len(train):
            continue
        block_rows = rows[rows["period"].isin(block)]
        scored = block_rows[["period", "month", "label"]].copy()
        margins = member_margins(fit_members(train, cfg), block_rows)
        for kind in KINDS:
            scored[kind] = np.mean([margins[n] for n in KIND_MEMBERS[kind]], axis=0)
        scored["fold"] = fold
        parts.append(scored)
    return pd.concat(parts) if parts else pd.DataFrame()


def _evaluate(y: np.ndarray, score: np.ndarray, prob: np.ndarray | None = None) -> dict:
    out = {
        "pr_auc": pr_auc(y, score),
        "roc_auc": roc_auc(y, score),
        "rows": len(y),
        "positives": int(np.sum(y)),
    }
    if prob is not None:
        out.update(ece=expected_calibration_error(y, prob), brier=brier(y, prob))
    return out


def train_model(table: pd.DataFrame, cfg: PipelineConfig | None = None) -> ModelBundle:
    """Out-of-time folds → kind (PR-AUC, ROC-AUC breaks ties), calibrator, threshold; the chosen
    kind refit on every labelled month. The last fold is also scored as a test of the recipe
    (kind and calibrator from the earlier folds only)."""
    cfg = cfg or PipelineConfig()
    if "label" not in table:
        table = add_labels(table, cfg)
    rows = training_rows(table, cfg)
    pool = training_rows(table, cfg, cfg.train_pool)
    positives = int(rows["label"].sum())
    shortage = NotEnoughHistory(
        f"not enough history yet: {n_periods(table)} months, {positives} breakouts"
    )
    if positives < cfg.min_positives or rows["period"].nunique() < 3:
        raise shortage
    oot = out_of_time(rows, pool, cfg)
    if oot.empty or oot["label"].sum() < 1:
        raise shortage
    base_rate = float(rows["label"].mean())
    last = oot["fold"].max()
    val, test = (oot[oot["fold"] < last], oot[oot["fold"] == last]) if last > 0 else (oot, oot[:0])
    kind, choice = _choose_kind(val if len(val) else oot, cfg)
    metrics = {k: {"validation": _evaluate(val["label"], val[k])} for k in KINDS}
    if len(test):
        for k in KINDS:
            cal = fit_calibrator(val[k], val["label"], base_rate)
            metrics[k]["test"] = _evaluate(test["label"], test[k], cal.apply(test[k]))
    else:
        for k in KINDS:
            metrics[k]["test"] = _evaluate(np.zeros(0), np.zeros(0))
    calibrator = fit_calibrator(oot[kind], oot["label"], base_rate)
    calibrated = calibrator.apply(oot[kind].to_numpy())
    threshold, policy = choose_threshold(
        oot["period"].to_numpy(), oot["label"].to_numpy(), calibrated, cfg
    )
    final = combine(fit_members(pool, cfg, KIND_MEMBERS[kind]), kind)
    final.threshold, final.calibrator = threshold, calibrator
    final.metadata = _metadata(table, rows, cfg, kind, metrics, policy, oot)
    final.metadata["choice"] = choice
    final.metadata["calibration"] = {
        **calibrator.to_dict(),
        "out_of_time": _evaluate(oot["label"], oot[kind], calibrated),
    }
    return final


def _choose_kind(val: pd.DataFrame, cfg: PipelineConfig) -> tuple[str, str]:
    """Best out-of-time PR-AUC (ROC-AUC breaks ties); the blend when positives are too few."""
    positives = int(val["label"].sum())
    if positives < cfg.min_validation_positives:
        return "blend", f"default: only {positives} out-of-time positives"

    def rank(k: str) -> tuple[float, float]:
        y = val["label"].to_numpy()
        return (pr_auc(y, val[k]) or -1.0, roc_auc(y, val[k]) or -1.0)

    return max(KINDS, key=rank), "out-of-time PR-AUC"


def _metadata(table, rows, cfg, kind, metrics, policy, oot) -> dict:
    import sklearn
    import xgboost

    labels = table["month"].drop_duplicates().sort_values()
    folds = [
        [str(g["month"].min()), str(g["month"].max())] for _, g in oot.groupby("fold", sort=True)
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "features": list(FEATURES),
        "threshold_policy": policy,
        "probability": "calibrated",
        "base_rate": float(rows["label"].mean()),
        "metrics": metrics,
        "data_range": {"first_month": labels.iloc[0], "last_month": labels.iloc[-1]},
        "train_months": [str(rows["month"].min()), str(rows["month"].max())],
        "out_of_time_folds": folds,
        "n_rows": len(rows),
        "n_positives": int(rows["label"].sum()),
        "versions": {
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "xgboost": xgboost.__version__,
        },
        "config": {k: v for k, v in cfg.__dict__.items()},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
