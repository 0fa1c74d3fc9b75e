"""Calibration: map a model's log-odds to an honest frequency, fit on out-of-time predictions.

Platt scaling (a logistic curve on the log-odds) fit only on predictions made before their labels
were known to the model (walk-forward months, or inner time-split folds), with PRIOR_ROWS
pseudo-rows at PRIOR_RATE. With few positives the curve is shrunk toward the listener's base rate:
p = w·curve + (1 − w)·base_rate, w = min(1, k/K) for k positives and K = `full_weight_positives`.
Monotone, so rankings are unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pipeline.models import sigmoid

FULL_WEIGHT_POSITIVES = 20
# What is known before a listener's own labels: about 5 % of eligible artists break out (5.6 %
# over eleven listeners nobody tuned to), worth this many artist-months of the listener's own.
PRIOR_RATE = 0.05
PRIOR_ROWS = 100
# With the cross-listener prior: the listener's recent labelled months set the level of the
# prior's odds against this many artist-months at the prior's own odds (rate_ratio).
ANCHOR_ROWS = 300


def smoothed_rate(positives: float, rows: float) -> float:
    """The listener's base rate, pulled toward PRIOR_RATE by PRIOR_ROWS pseudo-rows."""
    return float((positives + PRIOR_RATE * PRIOR_ROWS) / (rows + PRIOR_ROWS))


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
    # PRIOR_ROWS pseudo-rows at the prior rate (the same margins, split 5:95 by weight) keep a
    # curve fit on the first, breakout-rich months of a history from promising too much
    n = len(y)
    x = np.r_[margin, margin, margin][:, None]
    labels = np.r_[y, np.ones(n), np.zeros(n)]
    pseudo = PRIOR_ROWS / n
    weights = np.r_[
        np.ones(n), np.full(n, pseudo * PRIOR_RATE), np.full(n, pseudo * (1 - PRIOR_RATE))
    ]
    slope, intercept = _platt(x[:, 0], labels, weights)
    if slope <= 0:  # the ranking carries no signal out of time: say the base rate
        return identity(base_rate)
    weight = min(1.0, positives / full_weight_positives)
    return Calibrator(slope, intercept, weight, float(base_rate), len(y), positives)


def rate_ratio(prior_prob: np.ndarray, y: np.ndarray) -> float:
    """How the listener's labelled rows compare with what the prior expected of them: breakouts
    over the prior's expected count, both padded by ANCHOR_ROWS rows at the prior's mean (so
    few rows say little). Below 1 for a listener whose breakouts have slowed or stopped."""
    prior_prob, y = np.asarray(prior_prob, dtype="float64"), np.asarray(y, dtype="float64")
    mean = float(prior_prob.mean()) if len(prior_prob) else PRIOR_RATE
    pad = ANCHOR_ROWS * mean
    return float((y.sum() + pad) / (prior_prob.sum() + pad))


def rate_adjusted(
    ratio: float, base_rate: float, rows: int, slope: float = 1.0, intercept: float = 0.0
) -> Calibrator:
    """The prior's odds scaled by the listener's rate_ratio: sigmoid(slope · margin + intercept
    + log ratio), where slope and intercept map the prior's score to its log-odds."""
    return Calibrator(slope, intercept + float(np.log(ratio)), 1.0, float(base_rate), rows, 0)


def platt(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of an unpenalized Platt curve of 0/1 labels `y` on one `score`."""
    y = np.asarray(y, dtype="float64")
    return _platt(np.asarray(score, dtype="float64"), y, np.ones(len(y)), c=1e6)


def _platt(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float = 10.0) -> tuple[float, float]:
    """Weighted logistic regression on one input by Newton's method (the slope L2-penalized by
    1/(2c), as sklearn's C=c; the intercept free): a few vectorized steps instead of a solver."""
    slope = 0.0
    rate = float(np.clip((w * y).sum() / w.sum(), 1e-6, 1 - 1e-6))
    intercept = float(np.log(rate / (1 - rate)))
    for _ in range(100):
        p = sigmoid(slope * x + intercept)
        r, h = w * (p - y), w * p * (1 - p)
        grad = np.array([(r * x).sum() + slope / c, r.sum()])
        # a tiny ridge on the intercept keeps the step defined when every row saturates
        hess = np.array(
            [[(h * x * x).sum() + 1 / c, (h * x).sum()], [(h * x).sum(), h.sum() + 1e-9]]
        )
        # steps of at most 5 log-odds: Newton never jumps into saturation on odd inputs
        step = np.clip(np.linalg.solve(hess, grad), -5.0, 5.0)
        slope, intercept = slope - step[0], intercept - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(slope), float(intercept)


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
