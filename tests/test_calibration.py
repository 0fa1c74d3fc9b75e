"""Calibration: Platt curve, shrinkage toward the base rate, ECE, and honest out-of-time figures."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.backtest import run_backtest
from pipeline.calibration import (
    Calibrator,
    brier,
    expected_calibration_error,
    fit_calibrator,
    identity,
    rate_adjusted,
    rate_ratio,
)
from pipeline.simulate import simulate_listener


def _scores(n: int, rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds that are too confident by 3x: the true probability is sigmoid(margin / 3)."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(np.log(rate / (1 - rate)), 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(float)
    return 3 * true_logit, y


def test_platt_recovers_the_true_frequencies() -> None:
    margin, y = _scores(20_000, 0.06)
    cal = fit_calibrator(margin, y, base_rate=0.06)
    assert not cal.shrunk and cal.slope == pytest.approx(1 / 3, abs=0.03)
    p = cal.apply(margin)
    assert expected_calibration_error(y, p) < 0.01
    raw = 1 / (1 + np.exp(-margin))
    assert brier(y, p) < brier(y, raw)


def test_few_positives_shrink_toward_the_base_rate_and_say_so() -> None:
    margin, y = _scores(200, 0.03, seed=3)
    positives = int(y.sum())
    assert 0 < positives < 20
    cal = fit_calibrator(margin, y, base_rate=0.05)
    assert cal.shrunk and cal.weight == pytest.approx(positives / 20)
    assert cal.to_dict()["shrunk"] is True and cal.to_dict()["positives"] == positives
    p = cal.apply(margin)
    order = np.argsort(margin)
    assert (np.diff(p[order]) >= 0).all()  # still ranks
    assert p.min() >= (1 - cal.weight) * 0.05  # never below the shrunk floor


def test_no_positive_or_no_signal_gives_the_base_rate() -> None:
    assert fit_calibrator(np.arange(10.0), np.zeros(10), 0.04).apply(np.array([5.0])) == [0.04]
    backwards = fit_calibrator(np.arange(100.0), (np.arange(100) < 20).astype(float), 0.2)
    assert backwards == identity(0.2)


def test_calibrator_round_trips_and_rejects_bad_values() -> None:
    cal = Calibrator(0.5, -2.0, 0.7, 0.05, 300, 14)
    assert Calibrator.from_dict(cal.to_dict()) == cal
    for bad in ({"weight": 1.5}, {"base_rate": -0.1}, {"slope": float("nan")}):
        with pytest.raises(ValueError):
            Calibrator.from_dict({**cal.to_dict(), **bad})


def test_ece_uses_equal_count_bins() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 10, dtype=float)  # 20 % in every bin of 10
    assert expected_calibration_error(y, np.full(100, 0.2)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.3)
    p = np.r_[np.full(50, 0.1), np.full(50, 0.3)]
    y = np.r_[np.tile([1.0] + [0.0] * 9, 5), np.tile([1.0] * 3 + [0.0] * 7, 5)]
    assert expected_calibration_error(y, p) == pytest.approx(0.0)


@pytest.mark.slow
def test_out_of_time_probabilities_match_a_simulated_listeners_frequency() -> None:
    scrobbles = simulate_listener(11, 48, datetime(2025, 6, 15, tzinfo=UTC))
    result = run_backtest(scrobbles, baselines=False)
    cal = result.report["calibration"]
    assert cal["rows"] > 300
    assert abs(cal["mean_predicted"] - cal["observed_rate"]) <= 0.02
    assert cal["brier"] < cal["brier_constant"]


def test_rate_adjusted_odds_scale_the_prior_by_the_listeners_rate() -> None:
    score = np.linspace(-2.0, 2.0, 101)  # a prior's ranking score, mapped by its Platt curve
    prior = rate_adjusted(1.0, 0.05, 0, slope=1.5, intercept=-3.0)
    np.testing.assert_allclose(prior.apply(score), 1 / (1 + np.exp(-(1.5 * score - 3.0))))
    slowed = rate_adjusted(0.5, 0.05, 200, slope=1.5, intercept=-3.0).apply(score)
    odds = slowed / (1 - slowed) / (prior.apply(score) / (1 - prior.apply(score)))
    np.testing.assert_allclose(odds, 0.5)  # half the odds, the same order
    assert not rate_adjusted(0.5, 0.05, 200).shrunk


def test_rate_ratio_scales_the_prior_to_a_listener_whose_breakouts_stopped() -> None:
    prior = np.full(1000, 0.06)
    assert rate_ratio(prior, np.zeros(1000)) < 0.3
    assert rate_ratio(prior, (np.arange(1000) < 60).astype(float)) == pytest.approx(1.0)
    assert rate_ratio(np.zeros(0), np.zeros(0)) == 1.0  # nothing known: the prior as it is
