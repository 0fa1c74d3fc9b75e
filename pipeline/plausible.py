"""Which timestamps and names can be real: the one definition for every source."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Last.fm (then Audioscrobbler) began in 2002; nothing can have been scrobbled earlier.
EARLIEST_TS = 1_009_843_200  # 2002-01-01T00:00:00Z
FUTURE_SLACK = 24 * 3600  # a clock a day fast is plausible, more is not
MAX_NAME_CHARS = 1024
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"


def implausible_ts(ts: np.ndarray, now: float) -> np.ndarray:
    """True where a Unix timestamp lies before 2002-01-01 or more than a day after `now`."""
    values = np.asarray(ts, dtype=np.int64)
    return (values < EARLIEST_TS) | (values > int(now) + FUTURE_SLACK)


def clean_names(names: pd.Series) -> tuple[pd.Series, int]:
    """Names without control characters, capped at MAX_NAME_CHARS; and how many were capped."""
    text = names.astype(object).where(names.notna(), "").astype(str)
    text = text.str.replace(_CONTROL, "", regex=True)
    long = text.str.len() > MAX_NAME_CHARS
    return text.where(~long, text.str.slice(0, MAX_NAME_CHARS)), int(long.sum())
