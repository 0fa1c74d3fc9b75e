"""The two learners behind ModelBundle: scaled logistic regression and XGBoost.

Both turn into plain JSON-ready dicts (`to_dict`) and are rebuilt from them (`from_dict`): the
logistic model as arrays, the trees in XGBoost's own UBJSON format. Nothing is ever unpickled.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from pipeline.config import PipelineConfig

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


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped away from 0 and 1."""
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), without overflow for very negative z."""
    return expit(np.asarray(z, dtype="float64"))


def signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x)·log1p(|x|): tames the heavy-tailed counts for the linear model."""
    return np.sign(x) * np.log1p(np.abs(x))


def _floats(values, n: int | None = None) -> np.ndarray:
    """A finite float vector from JSON (of length n when given), else ValueError."""
    arr = np.asarray(values, dtype="float64")
    if arr.ndim != 1 or (n is not None and len(arr) != n) or not np.isfinite(arr).all():
        raise ValueError("not a finite vector of the expected length")
    return arr


class LogisticModel:
    """Standardized (signed-log) features + L2 logistic regression, kept as plain arrays."""

    kind = "logistic"

    def __init__(
        self,
        cfg: PipelineConfig,
        c: float | None = None,
        log: bool = True,
        balanced: bool = False,
    ) -> None:
        self.log = log
        self.c = cfg.lr_c if c is None else c
        self.balanced = balanced
        self.mean = self.scale = self.coef = np.zeros(0)
        self.intercept = 0.0

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        return signed_log(x) if self.log else x

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> LogisticModel:
        """Fit on a feature matrix, 0/1 labels and optional row weights."""
        scaler = StandardScaler().fit(self._inputs(x))  # handles constant columns
        self.mean, self.scale = scaler.mean_.copy(), scaler.scale_.copy()
        # newton-cholesky: the same optimum as lbfgs in a few steps for a dozen features
        model = LogisticRegression(
            C=self.c,
            class_weight="balanced" if self.balanced else None,
            solver="newton-cholesky",
            max_iter=200,
        )
        model.fit(self.standardized(x), y, sample_weight=weight)
        self.coef, self.intercept = model.coef_[0].copy(), float(model.intercept_[0])
        return self

    def standardized(self, x: np.ndarray) -> np.ndarray:
        """The model's input: standardized signed-log features."""
        return (self._inputs(x) - self.mean) / self.scale

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Log-odds."""
        return self.standardized(x) @ self.coef + self.intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class."""
        return sigmoid(self.margin(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Coefficient × standardized value per feature, plus the intercept as the last column."""
        parts = self.standardized(x) * self.coef
        return np.column_stack([parts, np.full(len(x), self.intercept)])

    def to_dict(self) -> dict:
        """Plain JSON-ready description (arrays as lists)."""
        return {
            "type": "logistic",
            "log": self.log,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict, n_features: int) -> LogisticModel:
        """Rebuild from `to_dict` output; ValueError/KeyError/TypeError when malformed."""
        model = cls.__new__(cls)
        model.log, model.c, model.balanced = bool(data["log"]), None, False
        model.mean = _floats(data["mean"], n_features)
        model.scale = _floats(data["scale"], n_features)
        model.coef = _floats(data["coef"], n_features)
        model.intercept = float(_floats([data["intercept"]])[0])
        if (model.scale <= 0).any():
            raise ValueError("non-positive scale")
        return model


class XGBoostModel:
    """Gradient-boosted trees (hist), optional monotone constraints and class weighting.

    With `offset`, the trees start from logit(offset feature) instead of a constant: they learn
    corrections to a prior probability rather than the whole score.
    """

    kind = "xgboost"

    def __init__(
        self,
        cfg: PipelineConfig,
        features: list[str],
        rounds: int | None = None,
        params: dict | None = None,
        monotone: dict[str, int] | None = None,
        offset: str | None = None,
        balanced: bool = True,
    ) -> None:
        self.features = list(features)
        self.offset = None if offset is None else self.features.index(offset)
        self.rounds = cfg.xgb_n_estimators if rounds is None else rounds
        self.early_stopping = cfg.xgb_early_stopping
        self.balanced = balanced
        self.params = {
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "tree_method": "hist",
            "max_depth": cfg.xgb_max_depth,
            "eta": cfg.xgb_learning_rate,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 1.0,
            "lambda": 1.0,
            "nthread": cfg.xgb_nthread,
            "seed": cfg.seed,
            "verbosity": 0,
        }
        if params:
            self.params.update(params)
        if monotone:
            cons = ",".join(str(monotone.get(f, 0)) for f in self.features)
            self.params["monotone_constraints"] = f"({cons})"
        self.booster: xgb.Booster | None = None
        self.best_rounds: int | None = None

    def base_margin(self, x: np.ndarray) -> np.ndarray | None:
        """The prior log-odds the trees start from (None without an offset)."""
        return None if self.offset is None else logit(x[:, self.offset])

    def _matrix(
        self, x: np.ndarray, y: np.ndarray | None = None, group: np.ndarray | None = None
    ) -> xgb.DMatrix:
        # No feature names: XGBoost re-reads and re-checks them through its C API on every
        # boosting round (a quarter of the training time); the columns are self.features.
        return xgb.DMatrix(
            x, label=y, base_margin=self.base_margin(x), nthread=self.params["nthread"], qid=group
        )

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        group: np.ndarray | None = None,
    ) -> XGBoostModel:
        """Fit; with a validation set, stop early on its PR-AUC and remember the best round.
        `group` (sorted query ids, for a ranking objective): rows are ranked within each."""
        w = np.ones(len(y)) if weight is None else weight
        pos = float((w * y).sum())
        params = dict(self.params)
        if self.balanced:
            params.setdefault("scale_pos_weight", (w.sum() - pos) / max(pos, 1e-9))
        train = self._matrix(x, y, group)
        if group is None:  # a ranking objective takes no row weights (they would be per group)
            train.set_weight(w)
        if x_val is not None and y_val is not None and 0 < y_val.sum() < len(y_val):
            self.booster = xgb.train(
                params,
                train,
                num_boost_round=self.rounds,
                evals=[(self._matrix(x_val, y_val), "val")],
                early_stopping_rounds=self.early_stopping,
                verbose_eval=False,
            )
            self.best_rounds = int(self.booster.best_iteration) + 1
        else:
            self.booster = xgb.train(params, train, num_boost_round=self.rounds)
            self.best_rounds = self.rounds
        return self

    def _range(self) -> tuple[int, int]:
        return (0, self.best_rounds or self.rounds)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class (up to the best round)."""
        return self.booster.predict(self._matrix(x), iteration_range=self._range())

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Log-odds, predicted in place from the caller's array: no DMatrix is built, so the
        learners of a bundle all read one matrix (a DMatrix each cost ~6x the prediction)."""
        return self.booster.inplace_predict(
            x,
            iteration_range=self._range(),
            predict_type="margin",
            base_margin=self.base_margin(x),
        )

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """SHAP values in log-odds (pred_contribs), bias last; the prior counts for its feature."""
        parts = self.booster.predict(
            self._matrix(x), pred_contribs=True, iteration_range=self._range()
        )
        if self.offset is not None:
            parts = parts.copy()
            prior = self.base_margin(x)
            parts[:, self.offset] += prior
            # pred_contribs folds the base margin into the bias column
            parts[:, -1] -= prior
        return parts

    def to_dict(self) -> dict:
        """Plain JSON-ready description; the booster in XGBoost's UBJSON format (base64)."""
        raw = bytes(self.booster.save_raw(raw_format="ubj"))
        return {
            "type": "xgboost",
            "features": self.features,
            "offset": self.offset,
            "rounds": int(self.rounds),
            "best_rounds": int(self.best_rounds or self.rounds),
            "nthread": int(self.params["nthread"]),
            "booster_ubj": base64.b64encode(raw).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict, features: list[str]) -> XGBoostModel:
        """Rebuild from `to_dict` output; ValueError/KeyError/TypeError/XGBoostError if bad."""
        if list(data["features"]) != list(features):
            raise ValueError("booster features differ from the model's")
        model = cls.__new__(cls)
        model.features = list(features)
        offset = data["offset"]
        if offset is not None and not (isinstance(offset, int) and 0 <= offset < len(features)):
            raise ValueError("bad offset")
        model.offset = offset
        model.rounds, model.best_rounds = int(data["rounds"]), int(data["best_rounds"])
        model.early_stopping, model.balanced = 0, False
        model.params = {"nthread": int(data["nthread"])}
        booster = xgb.Booster()
        booster.load_model(bytearray(base64.b64decode(data["booster_ubj"], validate=True)))
        if booster.num_features() != len(features):
            raise ValueError("booster has another number of features")
        booster.set_param({"nthread": model.params["nthread"]})
        booster.feature_names = None  # models saved with names read unnamed matrices too
        model.booster = booster
        return model


def matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Float feature matrix in the given column order."""
    return frame[features].to_numpy(dtype="float64")
