"""Every constant of the breakout definitions, in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineConfig:
    """Definitions of core, label, eligibility, training split and alert policy."""

    # Core(t): plays_t >= core_plays or share_t >= core_share of the period's scrobbles.
    core_plays: int = 20
    core_share: float = 0.01
    # Label y(t) = Core(t+1) or ... or Core(t+horizon); the last `horizon` periods are censored.
    horizon: int = 2
    # Eligible(t): plays_t >= eligible_min_plays, months_since_first_seen <= eligible_max_age,
    # not Core in t, t-1, ..., t-eligible_not_core_lookback.
    eligible_min_plays: int = 3
    eligible_max_age: int = 6
    eligible_not_core_lookback: int = 2
    # The first cold_start_months periods of a history are never used for training.
    cold_start_months: int = 6
    # Training rows: "learnable" = eligible except the age rule (more examples), or "eligible".
    # Validation, test, threshold and the backtest always use eligible rows only.
    train_pool: str = "learnable"
    # Training rows weigh 0.5 ** (age in months / half-life): recent habits count more.
    recency_half_life: float | None = None
    # Time-based split of the labelled months: train / validation / test.
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    # Out-of-time blocks after the first split[0] share of months: each is scored by members
    # trained on labels known before it; their predictions choose the kind, calibrate, threshold.
    calibration_folds: int = 4
    # The walk-forward backtest refits its models every this many months (speed; still honest:
    # each fit only sees labels known at the first month it scores).
    backtest_refit_months: int = 3
    # Class-balanced LR and trees rank better (music-stats walk-forward AP 0.129 vs 0.099 without);
    # the probabilities they inflate are mapped to honest frequencies by the calibrator.
    class_weighting: bool = True
    # Model choice on validation needs this many positives there; fewer -> the blend.
    min_validation_positives: int = 10
    # Threshold policy: median alerts per month on validation <= alert_budget, best F-beta.
    alert_budget: int = 3
    f_beta: float = 0.5
    # Fewer positive labels than this -> NotEnoughHistory and the fallback ranking.
    min_positives: int = 2
    # Trailing window (freshness scoring) length in days.
    trailing_days: int = 30
    # The empty candidate list names artists first played within this many days.
    watch_days: int = 60
    seed: int = 42
    # XGBoost: fast, shallow, regularized; rounds = the most (early stopping may cut it).
    # Depth 2, min_child_weight 5: steadier across seeds than depth 3 / min_child_weight 1.
    # 3 subsampling bags per tree member (10 before): a third of the training time.
    xgb_n_estimators: int = 100
    xgb_max_depth: int = 2
    xgb_learning_rate: float = 0.05
    xgb_early_stopping: int = 30
    xgb_nthread: int = 1
    xgb_bags: int = 3
    # Smallest hessian sum per leaf of the project's trees: no leaf on a couple of positives.
    xgb_min_child_weight: float = 5.0
    # Logistic regression inverse regularization strength.
    lr_c: float = 0.3
