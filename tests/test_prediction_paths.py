"""The fast prediction path (one array for every booster, no DMatrix) answers what XGBoost's
DMatrix path answers, the prior offset included."""

import numpy as np
import xgboost as xgb

from pipeline.config import PipelineConfig
from pipeline.models import XGBoostModel


def test_in_place_margin_equals_the_dmatrix_margin() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((400, 3))
    x[:, 2] = rng.uniform(0.01, 0.99, 400)  # the prior: a probability
    y = (x[:, 0] + rng.normal(0, 0.3, 400) > 0.6).astype(float)
    features = ["a", "b", "prior"]
    for offset in (None, "prior"):
        model = XGBoostModel(PipelineConfig(), features, rounds=20, offset=offset).fit(x, y)
        matrix = xgb.DMatrix(x, base_margin=model.base_margin(x))
        expected = model.booster.predict(
            matrix, output_margin=True, iteration_range=(0, model.best_rounds)
        )
        np.testing.assert_allclose(model.margin(x), expected, rtol=1e-6, atol=1e-6)
        assert np.ptp(expected) > 0  # a model that learned something, not a constant
