"""Ranking metrics of the backtest and the training report."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score


def pr_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Average precision, or None when there is no positive."""
    y = np.asarray(y)
    if len(y) == 0 or y.sum() == 0:
        return None
    return float(average_precision_score(y, score))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC, or None when only one class is present."""
    y = np.asarray(y)
    if len(y) == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, score))


def precision_at_k(month: pd.Series, y: np.ndarray, score: np.ndarray, k: int = 3) -> float | None:
    """Mean over months of the share of positives among that month's k top-scored rows."""
    frame = pd.DataFrame({"month": np.asarray(month), "y": np.asarray(y), "s": np.asarray(score)})
    if frame.empty:
        return None
    frame = frame.sort_values(["month", "s"], ascending=[True, False], kind="stable")
    top = frame.groupby("month", sort=False).head(k)
    return float(top.groupby("month")["y"].mean().mean())


def ranking_summary(month: pd.Series, y: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    """Pooled AP, prevalence, lift (AP / prevalence), ROC-AUC and mean precision@3 per month."""
    y = np.asarray(y, dtype="float64")
    ap = pr_auc(y, score)
    prevalence = float(y.mean()) if len(y) else None
    return {
        "average_precision": ap,
        "prevalence": prevalence,
        "lift": None if ap is None or not prevalence else ap / prevalence,
        "roc_auc": roc_auc(y, score),
        "precision_at_3": precision_at_k(month, y, score, 3),
    }
