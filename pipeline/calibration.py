"""Calibration: map a model's log-odds to an honest frequency, fit on out-of-time predictions.

Platt scaling (a logistic curve on the log-odds) fit only on predictions made before their labels
were known to the model (walk-forward months, or inner time-split folds). With few positives the
curve is shrunk toward the listener's base rate: p = w·curve + (1 − w)·base_rate, w = min(1, k/K)
for k positives and K = `full_weight_positives`. Monotone, so rankings are unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from pipeline.models import sigmoid

FULL_WEIGHT_POSITIVES = 20


@dataclass(frozen=True)
class Calibrator:
    """p = weight · sigmoid(slope · margin + intercept) + (1 − weight) · base_rate."""

    slope: float
    intercept: float
    weight: float
    base_rate: float
    rows: int
    positives: int

    @property
    def shrunk(self) -> bool:
        """True when too few positives forced part of the way toward the base rate."""
        return self.weight < 1.0

    def apply(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability of each log-odds value."""
        curve = sigmoid(self.slope * np.asarray(margin, dtype="float64") + self.intercept)
        return self.weight * curve + (1.0 - self.weight) * self.base_rate

    def to_dict(self) -> dict:
        """JSON-ready fields plus the derived `shrunk` flag."""
        return {**asdict(self), "method": "platt", "shrunk": self.shrunk}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        """Rebuild from `to_dict` output; ValueError/KeyError/TypeError when malformed."""
        values = [float(data[k]) for k in ("slope", "intercept", "weight", "base_rate")]
        if not np.isfinite(values).all() or not 0 <= values[2] <= 1 or not 0 <= values[3] <= 1:
            raise ValueError("calibrator values out of range")
        return cls(*values, rows=int(data["rows"]), positives=int(data["positives"]))


def identity(base_rate: float) -> Calibrator:
    """Nothing to calibrate on: every row gets the base rate."""
    return Calibrator(1.0, 0.0, 0.0, float(base_rate), 0, 0)


def fit_calibrator(
    margin: np.ndarray,
    y: np.ndarray,
    base_rate: float,
    full_weight_positives: int = FULL_WEIGHT_POSITIVES,
) -> Calibrator:
    """Platt curve on out-of-time (margin, label) pairs, shrunk toward `base_rate` when the
    pairs hold fewer than `full_weight_positives` positives."""
    margin = np.asarray(margin, dtype="float64")
    y = np.asarray(y, dtype="float64")
    keep = np.isfinite(margin) & np.isfinite(y)
    margin, y = margin[keep], y[keep]
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return identity(base_rate)
    # mild regularization: a steady curve from a few dozen positives
    model = LogisticRegression(C=10.0, max_iter=1000)
    model.fit(margin[:, None], y)
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    if slope <= 0:  # the ranking carries no signal out of time: say the base rate
        return identity(base_rate)
    weight = min(1.0, positives / full_weight_positives)
    return Calibrator(slope, intercept, weight, float(base_rate), len(y), positives)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float | None:
    """ECE over `bins` equal-count bins: Σ (bin share) · |mean predicted − observed rate|."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    if len(y) == 0:
        return None
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, min(bins, len(y)))
    return float(sum(len(i) / len(y) * abs(p[i].mean() - y[i].mean()) for i in parts))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mean squared error of probabilities."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    return float(np.mean((p - y) ** 2)) if len(y) else None
