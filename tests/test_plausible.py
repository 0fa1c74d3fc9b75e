"""The one definition of plausible scrobbles: timestamps and names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.plausible import (
    MAX_FUTURE_SECONDS,
    MAX_NAME_CHARS,
    MIN_PLAUSIBLE_TS,
    clean_names,
    implausible_ts,
)

NOW = 1_780_000_000.0


def test_timestamps_before_2002_or_over_a_day_ahead_are_implausible() -> None:
    ts = np.array(
        [
            0,
            1,
            MIN_PLAUSIBLE_TS - 1,
            MIN_PLAUSIBLE_TS,
            NOW,
            NOW + MAX_FUTURE_SECONDS,
            NOW + MAX_FUTURE_SECONDS + 1,
            4_102_444_799,
            np.nan,
            np.inf,
        ]
    )
    expected = [True, True, True, False, False, False, True, True, True, True]
    assert implausible_ts(ts, NOW).tolist() == expected


def test_integer_timestamps_are_accepted() -> None:
    assert implausible_ts(np.array([MIN_PLAUSIBLE_TS, 5], dtype="int64"), NOW).tolist() == [
        False,
        True,
    ]


def test_clean_names_strips_control_characters_and_counts_caps() -> None:
    long = "x" * (MAX_NAME_CHARS + 5)
    series = pd.Series(["a\x00b\x1fc\x7f", "tab\there", long, long, None, "ok", "\u0085z"])
    cleaned, capped = clean_names(series)
    assert cleaned.tolist() == [
        "abc",
        "tabhere",
        "x" * MAX_NAME_CHARS,
        "x" * MAX_NAME_CHARS,
        "",
        "ok",
        "z",
    ]
    assert capped == 2
    assert cleaned.index.equals(series.index)


def test_clean_names_of_an_empty_series() -> None:
    cleaned, capped = clean_names(pd.Series([], dtype="str"))
    assert len(cleaned) == 0 and capped == 0
