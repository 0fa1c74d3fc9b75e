"""Training: LR, XGBoost and their blend compared on out-of-time folds, calibrated, thresholded.

The blend's members are fit once per fold; "logistic", "xgboost" and "blend" are combinations of
the same fitted members. Out-of-time fold predictions choose the kind, fit the calibrator and set
the threshold; the chosen kind is then refit once on every labelled month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.artifacts import (  # re-exported: the model's public home is pipeline.train
    FORMAT,
    FORMAT_VERSION,
    MODEL_FILE,
    ModelBundle,
    ModelFormatError,
    library_versions,
    load_bundle,
    save_bundle,
    stamp_now,
)
from pipeline.calibration import (
    ANCHOR_ROWS,
    brier,
    expected_calibration_error,
    fit_calibrator,
    rate_adjusted,
    rate_ratio,
    smoothed_rate,
)
from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory
from pipeline.features import FEATURES
from pipeline.labels import add_labels, n_periods
from pipeline.metrics import pr_auc, roc_auc
from pipeline.models import MONOTONE, LogisticModel, XGBoostModel, matrix
from pipeline.prior import Prior, shipped_prior

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

# The prior the offset trees start from: P(Poisson(recent pace) >= plays needed for core).
PRIOR_FEATURE = "core_chance_mix_t"
# Flag only odds clearly above the listener's recent base rate (its last RECENT_MONTHS labelled
# months): at least FLAG_LIFT times it, and never below FLAG_MIN_PROBABILITY. Chosen on the
# yardstick by the flags' hit rate and count per month (README, "Backtest").
RECENT_MONTHS = 24
FLAG_LIFT = 2.0
FLAG_MIN_PROBABILITY = 0.25
SHIPPED = "shipped"  # train_model's default: the prior shipped with the package


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
    train: pd.DataFrame,
    cfg: PipelineConfig,
    members: tuple[str, ...] = ("lr", "trees", "prior"),
    features: list[str] = FEATURES,
) -> dict[str, list[tuple[object, float]]]:
    """Fit each member once: "lr" logistic regression, "trees" monotone XGBoost bags, "prior"
    monotone XGBoost bags correcting the Poisson prior `core_chance_mix_t`."""
    x, y = matrix(train, features), train["label"].to_numpy(dtype="float64")
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
                features,
                params={"seed": cfg.seed + bag, "min_child_weight": cfg.xgb_min_child_weight},
                monotone=MONOTONE,
                offset=offset,
                balanced=cfg.class_weighting,
            )
            bags.append((model.fit(x, y, weight=w), 1.0 / cfg.xgb_bags))
        out[name] = bags
    return out


def combine(
    members: dict[str, list[tuple[object, float]]], kind: str, features: list[str] = FEATURES
) -> ModelBundle:
    """An uncalibrated bundle of `kind` from fitted members (each member weighs the same)."""
    names = KIND_MEMBERS[kind]
    learners = [(m, w / len(names)) for n in names for m, w in members[n]]
    return ModelBundle(kind, list(features), float("nan"), learners)


def member_margins(
    members: dict[str, list[tuple[object, float]]], frame: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Each fitted member's log-odds of the rows of `frame`."""
    x = matrix(frame, FEATURES)
    return {name: sum(w * m.margin(x) for m, w in parts) for name, parts in members.items()}


def fit_project_scorer(
    train: pd.DataFrame, cfg: PipelineConfig, kind: str = "blend", features: list[str] = FEATURES
):
    """Fit the project's learner(s) of `kind` on labelled rows (uncalibrated, no threshold)."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return combine(fit_members(train, cfg, KIND_MEMBERS[kind], features), kind, features)


def prior_only(prior: Prior) -> ModelBundle:
    """The cross-listener prior alone (uncalibrated, no threshold): odds before any breakout."""
    return ModelBundle("prior", list(prior.features), float("nan"), [(prior.model, 1.0)])


def recent_rate(rows: pd.DataFrame) -> float:
    """The smoothed base rate of `rows`' last RECENT_MONTHS months (appetite changes)."""
    recent = rows[rows["period"].to_numpy() > rows["period"].max() - RECENT_MONTHS]
    return smoothed_rate(recent["label"].sum(), len(recent)) if len(rows) else smoothed_rate(0, 0)


def flag_floor(rate: float) -> float:
    """The lowest calibrated probability flagged at a recent base rate `rate`."""
    return max(FLAG_MIN_PROBABILITY, FLAG_LIFT * rate)


def recency_weights(period: np.ndarray, cfg: PipelineConfig) -> np.ndarray | None:
    """0.5 ** (months before the newest training month / half-life); None when disabled."""
    if cfg.recency_half_life is None or len(period) == 0:
        return None
    return 0.5 ** ((period.max() - period) / cfg.recency_half_life)


def choose_threshold(month: np.ndarray, y: np.ndarray, score: np.ndarray, cfg: PipelineConfig):
    """Seed policy: median alerts per month <= budget, >= 1 true positive, best F-beta."""
    score, y = np.asarray(score, dtype="float64"), np.asarray(y)
    candidates = np.unique(score)[::-1]

    def at_or_above(values: np.ndarray) -> np.ndarray:
        """How many of `values` are >= each candidate."""
        return len(values) - np.searchsorted(np.sort(values), candidates, side="left")

    month = np.asarray(month)
    per_month = np.stack([at_or_above(score[month == m]) for m in np.unique(month)], axis=1)
    median_alerts = np.median(per_month, axis=1)
    tp = at_or_above(score[y == 1])
    alerts = at_or_above(score)
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


# Where the out-of-time months start when the later ones hold no breakout at all.
EARLIER_STARTS = (0.4, 0.2)


def fold_blocks(months: np.ndarray, cfg: PipelineConfig, first: float) -> list[np.ndarray]:
    """The out-of-time blocks: the months after the `first` share, in `folds` blocks."""
    n_first = max(1, round(first * len(months)))
    rest = months[n_first:]
    return [b for b in np.array_split(rest, min(cfg.calibration_folds, len(rest))) if len(b)]


def out_of_time_start(rows: pd.DataFrame, cfg: PipelineConfig) -> float:
    """Share of months before the out-of-time blocks: `split[0]`, earlier when no later breakout."""
    months = np.unique(rows["period"].to_numpy())
    for first in (cfg.split[0], *EARLIER_STARTS):
        blocks = fold_blocks(months, cfg, first)
        if blocks and rows.loc[rows["period"] >= blocks[0][0], "label"].sum() >= 1:
            return first
    return EARLIER_STARTS[-1]


def out_of_time(
    rows: pd.DataFrame, pool: pd.DataFrame, cfg: PipelineConfig, first: float
) -> pd.DataFrame:
    """Each block's eligible rows with the margins of every kind, from members trained only on
    labels known before the block began (periods <= block start - horizon)."""
    parts = []
    months = np.unique(rows["period"].to_numpy())
    for fold, block in enumerate(
        fold_blocks(months, cfg, cfg.split[0] if first is None else first)
    ):
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


def train_model(
    table: pd.DataFrame, cfg: PipelineConfig | None = None, prior: Prior | str | None = SHIPPED
) -> ModelBundle:
    """With a cross-listener `prior` (default: the shipped one), the prior ranks and the
    listener's labelled months set the level of its odds (it ranked better than every listener
    model on the yardstick, README "Backtest"). Without one, the listener's own model: out-of-time
    folds → kind (PR-AUC, ROC-AUC breaks ties), calibrator, threshold; the chosen kind refit on
    every labelled month. The last fold is also scored as a test of the recipe (kind and
    calibrator from the earlier folds only). Too little history for either: NotEnoughHistory."""
    cfg = cfg or PipelineConfig()
    prior = shipped_prior() if prior == SHIPPED else prior
    if "label" not in table:
        table = add_labels(table, cfg)
    rows = training_rows(table, cfg)
    pool = training_rows(table, cfg, cfg.train_pool)
    positives = int(rows["label"].sum())
    shortage = NotEnoughHistory(
        f"not enough history yet: {n_periods(table)} months, {positives} breakouts"
    )
    if prior is not None:
        if n_periods(table) < 2:
            raise shortage
        return _prior_bundle(table, rows, cfg, prior)
    oot = pd.DataFrame()
    if positives >= cfg.min_positives and rows["period"].nunique() >= 3:
        oot = out_of_time(rows, pool, cfg, out_of_time_start(rows, cfg))
    if oot.empty or oot["label"].sum() < 1:
        raise shortage
    base_rate = smoothed_rate(rows["label"].sum(), len(rows))
    last = oot["fold"].max()
    val, test = (oot[oot["fold"] < last], oot[oot["fold"] == last]) if last > 0 else (oot, oot[:0])
    kind, choice = _choose_kind(val if len(val) else oot, cfg)
    metrics = {k: {"validation": _evaluate(val["label"], val[k])} for k in KINDS}
    for k in KINDS:
        metrics[k]["test"] = _evaluate(np.zeros(0), np.zeros(0))
        if len(test):
            cal = fit_calibrator(val[k], val["label"], base_rate)
            metrics[k]["test"] = _evaluate(test["label"], test[k], cal.apply(test[k]))
    calibrator = fit_calibrator(oot[kind], oot["label"], base_rate)
    calibrated = calibrator.apply(oot[kind].to_numpy())
    threshold, policy = choose_threshold(
        oot["period"].to_numpy(), oot["label"].to_numpy(), calibrated, cfg
    )
    floor = flag_floor(recent_rate(rows))
    final = combine(fit_members(pool, cfg, KIND_MEMBERS[kind]), kind)
    final.threshold, final.calibrator = max(threshold, floor), calibrator
    final.metadata = _metadata(table, rows, cfg, kind, metrics, policy, oot)
    final.metadata["threshold_policy"].update(flag_floor=floor)
    final.metadata["choice"] = choice
    final.metadata["calibration"] = {
        **calibrator.to_dict(),
        "out_of_time": _evaluate(oot["label"], oot[kind], calibrated),
    }
    final.metadata["evidence"] = evidence(None, len(oot), positives)
    return final


def evidence(prior: Prior | None, rows: int, breakouts: int) -> dict:
    """Where the odds come from: mostly "prior" (how listeners like this one behave) or mostly
    the "listener" (its own labelled months). The listener's weight is its share of the odds'
    level: its `rows` recent labelled artist-months against the ANCHOR_ROWS rows at the prior's
    odds that pad rate_ratio (1 without a prior: its own model)."""
    weight = 1.0 if prior is None else rows / (rows + ANCHOR_ROWS)
    return {
        "source": "listener" if weight >= 0.5 else "prior",
        "listener_weight": round(weight, 4),
        "listener_breakouts": int(breakouts),
        "prior_histories": 0 if prior is None else len(prior.manifest.get("histories", [])),
    }


def _prior_bundle(table, rows, cfg: PipelineConfig, prior: Prior) -> ModelBundle:
    """The prior ranks; its odds are scaled by how the listener's recent labelled months compare
    with it (rate_ratio), and flagged only clearly above the recent base rate known so far."""
    bundle = prior_only(prior)
    base_rate = smoothed_rate(rows["label"].sum(), len(rows))
    recent = rows[rows["period"].to_numpy() > rows["period"].max() - RECENT_MONTHS]
    ratio = rate_ratio(prior.predict(recent), recent["label"].to_numpy())
    bundle.calibrator = rate_adjusted(ratio, base_rate, len(recent), prior.slope, prior.intercept)
    bundle.threshold = flag_floor(recent_rate(rows))
    policy = {"policy": "prior", "flag_floor": bundle.threshold}
    # the prior never trained on this listener: its labelled months are its validation
    margin = bundle.margin(rows)
    y = rows["label"].to_numpy()
    metrics = {
        "prior": {
            "validation": _evaluate(y, margin, bundle.calibrator.apply(margin)),
            "test": _evaluate(np.zeros(0), np.zeros(0)),
        }
    }
    bundle.metadata = _metadata(table, rows, cfg, "prior", metrics, policy, pd.DataFrame())
    bundle.metadata["features"] = list(prior.features)
    bundle.metadata["choice"] = "prior: it ranks; the listener's recent months set the level"
    bundle.metadata["calibration"] = bundle.calibrator.to_dict()
    bundle.metadata["evidence"] = evidence(prior, len(recent), int(rows["label"].sum()))
    bundle.metadata["prior"] = {k: prior.manifest.get(k) for k in ("rows", "positives")}
    return bundle


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

    labels = table["month"].drop_duplicates().sort_values()
    folds = []
    if len(oot):
        groups = oot.groupby("fold", sort=True)
        folds = [[str(g["month"].min()), str(g["month"].max())] for _, g in groups]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "features": list(FEATURES),
        "threshold_policy": policy,
        "probability": "calibrated",
        "base_rate": smoothed_rate(rows["label"].sum(), len(rows)),
        "metrics": metrics,
        "data_range": {"first_month": labels.iloc[0], "last_month": labels.iloc[-1]},
        "train_months": [str(rows["month"].min()), str(rows["month"].max())] if len(rows) else [],
        "out_of_time_folds": folds,
        "n_rows": len(rows),
        "n_positives": int(rows["label"].sum()),
        "versions": library_versions(),
        "config": {k: v for k, v in cfg.__dict__.items()},
        "created_at": stamp_now(),
    }
