"""How big a history a rebuild takes on: a clear refusal instead of running out of memory.

The feature table has one row per artist and month from the artist's discovery on while it is
played, plus the months of its discovery window: about (active artist-months) + (distinct
artists) × `eligible_max_age` rows, each ~1 KB through features, labels and training.
Measured by benchmarks/bench_memory.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.errors import UserError

MAX_TABLE_ROWS = 2_000_000  # about 2 GB at the rebuild's peak
SECONDS_PER_MONTH = 2_629_746  # an average month: the estimate needs no calendar


class HistoryTooLarge(UserError):
    """The history's artist-month table would not fit the rebuild's memory limit."""


def table_rows(scrobbles: pd.DataFrame, cfg: PipelineConfig) -> tuple[int, int]:
    """(estimated feature-table rows, distinct artists) of a scrobbles frame."""
    keys = scrobbles["artist_key"] if "artist_key" in scrobbles else scrobbles["artist"]
    artist, uniques = pd.factorize(keys, sort=False)
    month = scrobbles["ts"].to_numpy(dtype="int64") // SECONDS_PER_MONTH
    cells = np.unique(artist.astype("int64") * (1 << 24) + (month - month.min()))
    return len(cells) + len(uniques) * cfg.eligible_max_age, len(uniques)


def check_table_size(scrobbles: pd.DataFrame, cfg: PipelineConfig, limit: int = 0) -> None:
    """Raise HistoryTooLarge (one line) when the feature table would pass `limit` rows."""
    limit = limit or MAX_TABLE_ROWS
    if scrobbles.empty:
        return
    rows, artists = table_rows(scrobbles, cfg)
    if rows > limit:
        raise HistoryTooLarge(
            f"this history is too large to rebuild: {artists:,} distinct artists make about "
            f"{rows:,} artist-months, over the limit of {limit:,} (about 2 GB of memory)"
        )
