"""How big a history a rebuild takes on: a clear refusal instead of running out of memory.

The feature table has one row per artist and month from the artist's discovery on while it is
played, plus the months of its discovery window: about (active artist-months) + (distinct
artists) × `eligible_max_age` rows. The rebuild's peak memory grows with those rows and with
the scrobbles loaded; the per-unit figures below are fitted to benchmarks/bench_memory.py
(100,948 distinct artists, 241k scrobbles: 806k rows, 1.50 GB peak) and bench_rebuild.py
(1M scrobbles, 368k rows: 1.25 GB peak).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.errors import UserError

BASE_BYTES = 300e6  # interpreter, pandas, scikit-learn, xgboost
BYTES_PER_SCROBBLE = 450
BYTES_PER_ROW = 1400
MAX_REBUILD_BYTES = 2.5e9
SECONDS_PER_MONTH = 2_629_746  # an average month: the estimate needs no calendar


class HistoryTooLarge(UserError):
    """The history's rebuild would pass the memory limit."""


def table_rows(scrobbles: pd.DataFrame, cfg: PipelineConfig) -> tuple[int, int]:
    """(estimated feature-table rows, distinct artists) of a scrobbles frame."""
    keys = scrobbles["artist_key"] if "artist_key" in scrobbles else scrobbles["artist"]
    artist, uniques = pd.factorize(keys, sort=False)
    month = scrobbles["ts"].to_numpy(dtype="int64") // SECONDS_PER_MONTH
    cells = np.sort(artist.astype("int64") * (1 << 24) + (month - month.min()))
    distinct = int(np.count_nonzero(cells[1:] != cells[:-1])) + 1  # np.unique: ~70x slower
    return distinct + len(uniques) * cfg.eligible_max_age, len(uniques)


def rebuild_bytes(scrobbles: pd.DataFrame, cfg: PipelineConfig) -> tuple[float, int, int]:
    """(estimated peak bytes of a rebuild, feature-table rows, distinct artists)."""
    rows, artists = table_rows(scrobbles, cfg)
    peak = BASE_BYTES + BYTES_PER_SCROBBLE * len(scrobbles) + BYTES_PER_ROW * rows
    return peak, rows, artists


def check_rebuild_size(scrobbles: pd.DataFrame, cfg: PipelineConfig, limit: float = 0) -> None:
    """Raise HistoryTooLarge (one line) when the rebuild would need more than `limit` bytes."""
    limit = limit or MAX_REBUILD_BYTES
    if scrobbles.empty:
        return
    peak, rows, artists = rebuild_bytes(scrobbles, cfg)
    if peak > limit:
        raise HistoryTooLarge(
            f"this history is too large to rebuild: {len(scrobbles):,} scrobbles of "
            f"{artists:,} distinct artists ({rows:,} artist-months) need about "
            f"{peak / 1e9:.1f} GB of memory, over the {limit / 1e9:.1f} GB limit"
        )
