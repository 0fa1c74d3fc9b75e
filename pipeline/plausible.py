"""Plausibility rules for scrobbles at the door: one definition for importers and syncs alike."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Last.fm launched scrobbling in 2002 (Audioscrobbler); nothing earlier can be a real scrobble.
MIN_PLAUSIBLE_TS = 1_009_843_200  # 2002-01-01T00:00:00Z
# A clock a little ahead is normal; more than a day ahead of now is not a real listen.
MAX_FUTURE_SECONDS = 24 * 3600
# Names longer than Last.fm itself keeps are cut to this many characters (and counted).
MAX_NAME_CHARS = 1024
# MusicBrainz ids are 36-character UUIDs; anything longer is cut like a name.
MAX_MBID_CHARS = 36
# C0 and C1 control characters (tab and newline included: names are one line).
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"


def implausible_ts(ts: np.ndarray, now: float) -> np.ndarray:
    """Per timestamp (Unix seconds): not finite, before 2002-01-01, or over a day after `now`."""
    values = np.asarray(ts, dtype="float64")
    with np.errstate(invalid="ignore"):
        return (
            ~np.isfinite(values) | (values < MIN_PLAUSIBLE_TS) | (values > now + MAX_FUTURE_SECONDS)
        )


def clean_names(series: pd.Series, limit: int = MAX_NAME_CHARS) -> tuple[pd.Series, int]:
    """Strings without control characters, cut to `limit` chars; also how many rows were cut.

    Missing values become "". Work is done once per distinct value, so long histories with
    few distinct names stay fast.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    values = pd.Series(uniques, dtype=object).map(lambda v: v if isinstance(v, str) else str(v))
    values = values.astype("str")
    if len(values):
        stripped = values.str.replace(_CONTROL, "", regex=True)
        too_long = (stripped.str.len() > limit).to_numpy()
        values = stripped.where(~too_long, stripped.str.slice(0, limit))
    else:
        too_long = np.zeros(0, dtype=bool)
    lookup = np.append(values.to_numpy(dtype=object), "")  # code -1 (missing) maps to ""
    cleaned = pd.Series(lookup[codes], index=series.index, dtype="str")
    capped = int(too_long[codes[codes >= 0]].sum()) if len(too_long) else 0
    return cleaned, capped
