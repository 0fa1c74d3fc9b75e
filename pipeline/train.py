"""Training: LR vs XGBoost vs their blend on a time split, alert-budget threshold, artifacts."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory, UserError
from pipeline.features import FEATURES
from pipeline.labels import add_labels, n_periods
from pipeline.metrics import pr_auc, roc_auc
from pipeline.models import LogisticModel, XGBoostModel, matrix

FORMAT = "breakout-artists-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
META_FILE = "model.json"
KINDS = ("logistic", "xgboost", "blend")

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


class ModelFormatError(UserError):
    """A model directory holds something that is not this project's model artifact."""


@dataclass
class ModelBundle:
    """A trained model: its learners (margins averaged by weight), features, threshold, metadata."""

    kind: str
    features: list[str]
    threshold: float
    learners: list[tuple[object, float]]
    metadata: dict = field(default_factory=dict)

    def margin(self, frame: pd.DataFrame) -> np.ndarray:
        """Blended log-odds of each row."""
        x = matrix(frame, self.features)
        return sum(w * m.margin(x) for m, w in self.learners)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability-like score in (0, 1) of each row."""
        return 1.0 / (1.0 + np.exp(-self.margin(frame)))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Alias of predict_proba (the backtest's scorer interface)."""
        return self.predict_proba(frame)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Signed per-feature contributions to the log-odds, plus `bias`; rows sum to margin."""
        x = matrix(frame, self.features)
        total = sum(w * m.contributions(x) for m, w in self.learners)
        return pd.DataFrame(total, columns=[*self.features, "bias"], index=frame.index)


def fallback_scores(table: pd.DataFrame) -> pd.Series:
    """Transparent ranking used before a model can be trained: progress towards the core bar,
    plays_t / min(20, 1 % of the month's scrobbles) — i.e. how close the artist already is to
    becoming core this month (0 = not played, 1 = core)."""
    return pd.Series(
        np.clip(table["core_progress_t"].to_numpy(dtype="float64"), 0.0, 1.0),
        index=table.index,
        name="fallback",
    )


def fit_project_scorer(
    train: pd.DataFrame,
    cfg: PipelineConfig,
    kind: str = "blend",
    xgb_rounds: int | None = None,
    val: pd.DataFrame | None = None,
) -> ModelBundle:
    """Fit the project's learner(s) of `kind` on labelled rows (threshold left undecided).

    blend = the average log-odds of: logistic regression, monotone XGBoost, and monotone XGBoost
    whose trees correct the Poisson prior `core_chance_mix_t` (see PRIOR_FEATURE).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    x, y = matrix(train, FEATURES), train["label"].to_numpy(dtype="float64")
    w = recency_weights(train["period"].to_numpy(), cfg)
    x_val = None if val is None else matrix(val, FEATURES)
    y_val = None if val is None else val["label"].to_numpy(dtype="float64")
    learners: list[tuple[object, float]] = []
    if kind in ("logistic", "blend"):
        learners.append((LogisticModel(cfg).fit(x, y, w), 1.0))
    offsets = {"xgboost": [None], "blend": [None, PRIOR_FEATURE]}.get(kind, [])
    for offset in offsets:
        # several subsampling seeds per tree model: averages away the luck of one draw
        for bag in range(cfg.xgb_bags):
            model = XGBoostModel(
                cfg,
                FEATURES,
                rounds=xgb_rounds or cfg.xgb_n_estimators,
                params={"seed": cfg.seed + bag, "min_child_weight": cfg.xgb_min_child_weight},
                monotone=MONOTONE,
                offset=offset,
            )
            learners.append((model.fit(x, y, x_val, y_val, weight=w), 1.0 / cfg.xgb_bags))
    # each member (LR, plain trees, prior-corrected trees) weighs the same in the blend
    members = (1 if kind in ("logistic", "blend") else 0) + len(offsets)
    return ModelBundle(
        kind, list(FEATURES), float("nan"), [(m, w_ / members) for m, w_ in learners]
    )


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


def _split_months(months: np.ndarray, cfg: PipelineConfig):
    n = len(months)
    n_train = max(1, round(cfg.split[0] * n))
    n_val = max(1, round(cfg.split[1] * n))
    return months[:n_train], months[n_train : n_train + n_val], months[n_train + n_val :]


def _evaluate(bundle: ModelBundle, frame: pd.DataFrame) -> dict:
    if frame.empty:
        return {"pr_auc": None, "roc_auc": None, "rows": 0, "positives": 0}
    s, y = bundle.predict_proba(frame), frame["label"].to_numpy()
    return {
        "pr_auc": pr_auc(y, s),
        "roc_auc": roc_auc(y, s),
        "rows": len(y),
        "positives": int(y.sum()),
    }


def training_rows(table: pd.DataFrame, cfg: PipelineConfig, pool: str = "eligible"):
    """Labelled rows of `pool` ("eligible" or "learnable") after the cold start."""
    if "label" not in table:
        table = add_labels(table, cfg)
    keep = table[pool].to_numpy() & table["label"].notna().to_numpy()
    keep &= table["period"].to_numpy() >= cfg.cold_start_months
    return table[keep]


def train_model(table: pd.DataFrame, cfg: PipelineConfig | None = None) -> ModelBundle:
    """Compare LR, XGBoost and their blend on validation, pick by PR-AUC (ROC-AUC breaks ties),
    set the alert-budget threshold on validation, score test once, refit on train+validation."""
    cfg = cfg or PipelineConfig()
    if "label" not in table:
        table = add_labels(table, cfg)
    rows = training_rows(table, cfg)
    pool = training_rows(table, cfg, cfg.train_pool)
    months = np.unique(rows["period"].to_numpy())
    positives = int(rows["label"].sum())
    shortage = NotEnoughHistory(
        f"not enough history yet: {n_periods(table)} months, {positives} breakouts"
    )
    if positives < cfg.min_positives or len(months) < 3:
        raise shortage
    tr_m, va_m, te_m = _split_months(months, cfg)
    # fit on the training pool of the train months; validate and test on eligible rows only
    train = pool[pool["period"] <= tr_m[-1]]
    val = rows[rows["period"].isin(va_m)]
    test = rows[rows["period"].isin(te_m)]
    if train["label"].sum() < 1 or train["label"].sum() == len(train):
        raise shortage
    fitted = {k: fit_project_scorer(train, cfg, k, val=val) for k in KINDS}
    metrics = {
        k: {"validation": _evaluate(b, val), "test": _evaluate(b, test)} for k, b in fitted.items()
    }

    def rank(k: str) -> tuple[float, float]:
        v = metrics[k]["validation"]
        return (v["pr_auc"] or -1.0, v["roc_auc"] or -1.0)

    # With a handful of validation positives the comparison is noise: keep the blend, the
    # recipe the walk-forward backtest measures (and which beat LR and XGBoost alone there).
    val_positives = int(val["label"].sum())
    if val_positives >= cfg.min_validation_positives:
        kind, choice = max(KINDS, key=rank), "validation PR-AUC"
    else:
        kind, choice = "blend", f"default: only {val_positives} validation positives"
    val_scores = fitted[kind].predict_proba(val)
    threshold, policy = choose_threshold(
        val["period"].to_numpy(), val["label"].to_numpy(), val_scores, cfg
    )
    # the refit keeps the trees' early-stopped length (the longest of the chosen model's trees)
    rounds = [m.best_rounds for m, _ in fitted[kind].learners if isinstance(m, XGBoostModel)]
    rounds = max(rounds) if rounds else None
    final = fit_project_scorer(pool[pool["period"] <= va_m[-1]], cfg, kind, xgb_rounds=rounds)
    final.threshold = threshold
    final.metadata = _metadata(table, rows, cfg, kind, metrics, policy, rounds, (tr_m, va_m, te_m))
    final.metadata["choice"] = choice
    return final


def _metadata(table, rows, cfg, kind, metrics, policy, rounds, split) -> dict:
    import sklearn
    import xgboost

    labels = table["month"].drop_duplicates().sort_values()
    month_of = dict(zip(rows["period"], rows["month"], strict=False))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "features": list(FEATURES),
        "threshold_policy": policy,
        "xgb_rounds": rounds,
        "metrics": metrics,
        "data_range": {"first_month": labels.iloc[0], "last_month": labels.iloc[-1]},
        "split_months": {
            name: [month_of[p] for p in part[[0, -1]]] if len(part) else []
            for name, part in zip(("train", "validation", "test"), split, strict=True)
        },
        "n_rows": len(rows),
        "n_positives": int(rows["label"].sum()),
        "versions": {
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "xgboost": xgboost.__version__,
            "joblib": joblib.__version__,
        },
        "config": {k: v for k, v in cfg.__dict__.items()},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_bundle(bundle: ModelBundle, directory: str | Path) -> Path:
    """Write model.joblib and its model.json sidecar (format marker, checksum, metadata)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path, meta_path = directory / MODEL_FILE, directory / META_FILE
    tmp = model_path.with_suffix(".joblib.tmp")
    joblib.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "bundle": bundle}, tmp)
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sha256": _sha256(tmp),
        "kind": bundle.kind,
        "threshold": bundle.threshold,
        "metadata": bundle.metadata,
    }
    meta_tmp = meta_path.with_suffix(".tmp")
    meta_tmp.write_text(json.dumps(sidecar, indent=2, default=str), encoding="utf-8")
    tmp.replace(model_path)
    meta_tmp.replace(meta_path)
    return model_path


def load_bundle(directory: str | Path) -> ModelBundle | None:
    """The saved model, None when there is none; refuses files this project did not write."""
    directory = Path(directory)
    model_path, meta_path = directory / MODEL_FILE, directory / META_FILE
    if not model_path.exists() and not meta_path.exists():
        return None
    try:
        sidecar = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{meta_path} is not a breakout-artists model sidecar") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise ModelFormatError(f"{directory} does not hold a breakout-artists model")
    if sidecar.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"model format version {sidecar.get('format_version')} is not supported "
            f"(expected {FORMAT_VERSION}); run `breakout rebuild`"
        )
    # Checked before unpickling: only the exact file we wrote is ever loaded.
    if not model_path.exists() or _sha256(model_path) != sidecar.get("sha256"):
        raise ModelFormatError(f"{model_path} does not match its sidecar; run `breakout rebuild`")
    payload = joblib.load(model_path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFormatError(f"{model_path} is not a breakout-artists model")
    bundle = payload["bundle"]
    if not isinstance(bundle, ModelBundle):
        raise ModelFormatError(f"{model_path} is not a breakout-artists model")
    return bundle
