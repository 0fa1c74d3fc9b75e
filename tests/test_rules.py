"""Each definition is written once (pipeline.rules); these pin what it says."""

from __future__ import annotations

import numpy as np

from pipeline import rules
from pipeline.config import PipelineConfig

CFG = PipelineConfig()


def test_the_core_bar_is_the_share_definition_for_every_month_size() -> None:
    total = np.arange(1, 200_001)
    need = rules.core_need(total, CFG)
    assert need.max() == CFG.core_plays and need.min() == 1
    below = np.maximum(need - 1, 0)
    by_share = (need >= CFG.core_plays) | (need / total >= CFG.core_share)
    assert by_share.all()  # the bar itself is core by the seed's definition...
    assert not ((below / total >= CFG.core_share) & (below >= 1)).any()  # ...one play less is not
    assert rules.is_core(need, total, CFG).all() and not rules.is_core(below, total, CFG).any()
    assert int(rules.share_plays(3_500, CFG)) == 35 and int(rules.core_need(3_500, CFG)) == 20


def test_eligibility_and_learnable() -> None:
    plays = np.array([3, 2, 3, 3, 3])
    age = np.array([6, 1, 7, 1, 1])
    core_now = np.array([False, False, False, True, False])
    core_before = np.array([False, False, False, False, True])
    assert rules.eligible(plays, age, core_now, core_before, CFG).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert rules.learnable(plays, core_now, core_before, CFG).tolist() == [
        True,
        False,
        True,
        False,
        False,
    ]


def test_which_core_months_resolve_a_prediction() -> None:
    months_after = np.array([-1, 0, 1, 2, 3])
    month = rules.core_resolves(months_after, np.full(5, "month"), CFG)
    trailing = rules.core_resolves(months_after, np.full(5, "trailing"), CFG)
    assert month.tolist() == [False, False, True, True, False]
    assert trailing.tolist() == [False, True, True, True, False]
    assert bool(rules.core_resolves(1, "month", CFG)) and not rules.core_resolves(0, "month", CFG)
