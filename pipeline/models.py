"""The two learners behind ModelBundle: scaled logistic regression and XGBoost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from pipeline.config import PipelineConfig


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) with p clipped away from 0 and 1."""
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x)·log1p(|x|): tames the heavy-tailed counts for the linear model."""
    return np.sign(x) * np.log1p(np.abs(x))


class LogisticModel:
    """StandardScaler on signed-log features + class-balanced L2 logistic regression."""

    kind = "logistic"

    def __init__(self, cfg: PipelineConfig, c: float | None = None, log: bool = True) -> None:
        self.log = log
        self.scaler = StandardScaler()
        self.model = LogisticRegression(
            C=cfg.lr_c if c is None else c, class_weight="balanced", max_iter=2000
        )

    def fit(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> LogisticModel:
        """Fit on a feature matrix, 0/1 labels and optional row weights."""
        z = self.scaler.fit_transform(signed_log(x) if self.log else x)
        self.model.fit(z, y, sample_weight=weight)
        return self

    def standardized(self, x: np.ndarray) -> np.ndarray:
        """The model's input: standardized signed-log features."""
        return self.scaler.transform(signed_log(x) if self.log else x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class."""
        return self.model.predict_proba(self.standardized(x))[:, 1]

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Log-odds."""
        return self.model.decision_function(self.standardized(x))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Coefficient × standardized value per feature, plus the intercept as the last column."""
        parts = self.standardized(x) * self.model.coef_[0]
        return np.column_stack([parts, np.full(len(x), self.model.intercept_[0])])


class XGBoostModel:
    """Gradient-boosted trees (hist) with class weighting and optional monotone constraints.

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
    ) -> None:
        self.features = list(features)
        self.offset = None if offset is None else self.features.index(offset)
        self.rounds = cfg.xgb_n_estimators if rounds is None else rounds
        self.early_stopping = cfg.xgb_early_stopping
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

    def _matrix(self, x: np.ndarray, y: np.ndarray | None = None) -> xgb.DMatrix:
        return xgb.DMatrix(
            x,
            label=y,
            base_margin=self.base_margin(x),
            feature_names=self.features,
            nthread=self.params["nthread"],
        )

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        weight: np.ndarray | None = None,
    ) -> XGBoostModel:
        """Fit; with a validation set, stop early on its PR-AUC and remember the best round."""
        w = np.ones(len(y)) if weight is None else weight
        pos = float((w * y).sum())
        params = dict(self.params)
        params.setdefault("scale_pos_weight", (w.sum() - pos) / max(pos, 1e-9))
        train = self._matrix(x, y)
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
        """Log-odds."""
        return self.booster.predict(
            self._matrix(x), output_margin=True, iteration_range=self._range()
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


def matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Float feature matrix in the given column order."""
    return frame[features].to_numpy(dtype="float64")
