"""A history beyond the rebuild's memory limit is one clear line, not an out-of-memory kill."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pipeline import limits
from pipeline.config import PipelineConfig
from pipeline.limits import HistoryTooLarge, check_rebuild_size, rebuild_bytes, table_rows
from pipeline.rebuild import plan_rebuild

NOW = int(datetime(2026, 11, 28, tzinfo=UTC).timestamp())


def _scrobbles(artists: int, per_artist: int = 1) -> pd.DataFrame:
    artist = np.repeat(np.arange(artists), per_artist)
    ts = NOW - 86_400 - (np.arange(len(artist)) % 400) * 86_400
    names = pd.Series(artist).map("artist {}".format)
    return pd.DataFrame({"ts": ts, "artist": names, "artist_key": names, "track": "t", "album": ""})


def test_the_table_estimate_counts_active_months_and_discovery_windows() -> None:
    rows, artists = table_rows(_scrobbles(1000, per_artist=2), PipelineConfig())
    assert artists == 1000
    assert 1000 * 7 <= rows <= 1000 * 8  # 1-2 active months each, plus 6 window months


def test_a_history_beyond_the_limit_is_refused_in_one_line() -> None:
    scrobbles = _scrobbles(5000)
    peak, rows, _ = rebuild_bytes(scrobbles, PipelineConfig())
    with pytest.raises(HistoryTooLarge) as refused:
        check_rebuild_size(scrobbles, PipelineConfig(), limit=peak - 1)
    message = str(refused.value)
    assert f"5,000 distinct artists ({rows:,} artist-months)" in message and "\n" not in message
    check_rebuild_size(scrobbles, PipelineConfig(), limit=peak + 1)  # within: no refusal


@pytest.mark.slow  # a million artists
def test_the_measured_histories_are_within_and_a_million_artists_beyond() -> None:
    """The fitted figures against the benchmarks: 100k artists and 1M scrobbles pass."""
    cfg = PipelineConfig()

    def estimate(scrobbles: int, rows: int) -> float:
        return (
            limits.BASE_BYTES + limits.BYTES_PER_SCROBBLE * scrobbles + limits.BYTES_PER_ROW * rows
        )

    # (scrobbles, rows) of the two benchmarks, measured at 1.50 and 1.25 GB
    assert 1.3e9 < estimate(241_184, 805_697) < 1.7e9
    assert 1.1e9 < estimate(1_023_090, 368_390) < 1.4e9
    million = _scrobbles(1_000_000)
    with pytest.raises(HistoryTooLarge, match="1,000,000 distinct artists"):
        check_rebuild_size(million, cfg)


def test_plan_rebuild_refuses_before_building_features(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.limits.MAX_REBUILD_BYTES", 1e6)  # a small limit, same code
    feedback = pd.DataFrame({"artist_key": [], "month": [], "verdict": []})
    with pytest.raises(HistoryTooLarge, match="too large to rebuild"):
        plan_rebuild(_scrobbles(500), feedback, None, NOW)
