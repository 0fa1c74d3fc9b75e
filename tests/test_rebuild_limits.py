"""A history beyond the rebuild's memory limit is one clear line, not an out-of-memory kill."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from pipeline.config import PipelineConfig
from pipeline.limits import HistoryTooLarge, check_table_size, table_rows
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
    with pytest.raises(HistoryTooLarge) as refused:
        check_table_size(scrobbles, PipelineConfig(), limit=20_000)
    message = str(refused.value)
    assert "5,000 distinct artists" in message and "\n" not in message
    check_table_size(scrobbles, PipelineConfig(), limit=100_000)  # within: no refusal


def test_plan_rebuild_refuses_before_building_features(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.limits.MAX_TABLE_ROWS", 1_000)  # a small limit, same code
    feedback = pd.DataFrame({"artist_key": [], "month": [], "verdict": []})
    with pytest.raises(HistoryTooLarge, match="too large to rebuild"):
        plan_rebuild(_scrobbles(500), feedback, None, NOW)
