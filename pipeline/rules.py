"""The definitions as vectorized functions, each written once: core, eligibility, resolution.

The constants live in `PipelineConfig`; features, status, outside records (POST /predict)
and the bot's wording all call these instead of writing the rule again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.lazy import DeferredModule

if TYPE_CHECKING:
    import numpy as np
else:
    np = DeferredModule("numpy")  # `breakout candidates/status/record` start without numpy

from pipeline.config import PipelineConfig


def share_plays(total: np.ndarray | float, cfg: PipelineConfig) -> np.ndarray:
    """Plays that are `core_share` of a period of `total` scrobbles: ⌈1 %⌉, at least 1."""
    return np.maximum(np.ceil(cfg.core_share * np.asarray(total, dtype="float64")), 1)


def core_need(total: np.ndarray | float, cfg: PipelineConfig) -> np.ndarray:
    """Plays an artist needs in a period of `total` scrobbles to be core: min(20, ⌈1 %⌉), ≥ 1."""
    return np.minimum(cfg.core_plays, share_plays(total, cfg))


def is_core(plays: np.ndarray, total: np.ndarray | float, cfg: PipelineConfig) -> np.ndarray:
    """Core(t): at least `core_plays` plays, or at least `core_share` of the period's scrobbles."""
    return np.asarray(plays) >= core_need(total, cfg)


def enough_plays(plays: np.ndarray, cfg: PipelineConfig) -> np.ndarray:
    """The eligibility rule's play count: at least `eligible_min_plays` in the period."""
    return np.asarray(plays) >= cfg.eligible_min_plays


def young_enough(months_since_first_seen: np.ndarray, cfg: PipelineConfig) -> np.ndarray:
    """The eligibility rule's age: discovered at most `eligible_max_age` months before."""
    return np.asarray(months_since_first_seen) <= cfg.eligible_max_age


def learnable(
    plays: np.ndarray, core_now: np.ndarray, core_before: np.ndarray, cfg: PipelineConfig
) -> np.ndarray:
    """Eligible but for the age rule (older artists add training examples)."""
    return enough_plays(plays, cfg) & ~np.asarray(core_now, bool) & ~np.asarray(core_before, bool)


def eligible(
    plays: np.ndarray,
    months_since_first_seen: np.ndarray,
    core_now: np.ndarray,
    core_before: np.ndarray,
    cfg: PipelineConfig,
) -> np.ndarray:
    """Eligible(t): enough plays, young enough, not core in t nor in the lookback before it.

    `core_before`: core in any of the `eligible_not_core_lookback` periods before t.
    """
    return learnable(plays, core_now, core_before, cfg) & young_enough(months_since_first_seen, cfg)


def same_month_counts(window: np.ndarray | str) -> np.ndarray:
    """A trailing-window prediction's month was not over when it was made: core in it counts."""
    return np.asarray(window) == "trailing"


def core_resolves(
    months_after: np.ndarray | int, window: np.ndarray | str, cfg: PipelineConfig
) -> np.ndarray:
    """Whether being core `months_after` months after a prediction's month makes it come true.

    1..horizon months later (the label's months), or the month itself for the trailing window.
    """
    first = np.where(same_month_counts(window), 0, 1)
    after = np.asarray(months_after)
    return (after >= first) & (after <= cfg.horizon)
