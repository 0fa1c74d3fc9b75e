"""The rescore that reads only recent plays (closed months kept) decides what the whole history
decides: the same candidates, odds, reasons, status, predictions, resolutions and breakouts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.services.rebuild import rebuild, rescore
from pipeline import closed_months
from pipeline.config import PipelineConfig
from pipeline.rebuild import RebuildResult, plan_rebuild
from pipeline.simulate import simulate_listener

NOW = 1_795_176_000  # 2026-11-20 12:00 UTC
DAY = 86_400
CFG = PipelineConfig()
OCT_15 = 1_792_065_600  # 2026-10-15 12:00 UTC: a closed month at NOW


def _key(model_dir: Path) -> str:
    with np.load(model_dir / closed_months.FILE_NAME, allow_pickle=False) as data:
        return json.loads(str(data["header"]))["key"]


def _assert_same(full: RebuildResult, kept: RebuildResult) -> None:
    for name in ("status", "predictions", "resolutions", "breakouts"):
        pd.testing.assert_frame_equal(
            getattr(full, name).reset_index(drop=True),
            getattr(kept, name).reset_index(drop=True),
            obj=name,
        )
    for name in ("candidates", "reasons"):
        pd.testing.assert_frame_equal(
            getattr(full.scored, name).reset_index(drop=True),
            getattr(kept.scored, name).reset_index(drop=True),
            obj=name,
        )


@pytest.mark.parametrize("tz", ["UTC", "Pacific/Auckland"])
def test_a_rescore_from_kept_closed_months_equals_one_from_the_whole_history(
    tmp_path: Path, tz: str
) -> None:
    history = simulate_listener(11, end=NOW)
    earlier = plan_rebuild(history, pd.DataFrame(), None, NOW - 75 * DAY, tz, CFG)
    assert earlier.bundle is not None
    # predictions made 75 days ago: some resolve by now, some are still open
    made = earlier.predictions[["window", "artist_key", "month"]]
    open_predictions = made.assign(id=np.arange(len(made)))
    kept = plan_rebuild(
        history,
        pd.DataFrame(),
        earlier.bundle,
        NOW - 3 * DAY,
        tz,
        CFG,
        retrain=False,
        keep_closed=True,
    )
    assert kept.closed is not None
    closed_months.save(kept.closed, tmp_path / closed_months.FILE_NAME)
    closed = closed_months.load(tmp_path / closed_months.FILE_NAME, "")
    assert closed is not None
    recent = history[history["ts"] >= closed.recent_start(NOW, CFG)]
    assert len(recent) < len(history) / 3
    args = (pd.DataFrame(), earlier.bundle, NOW, tz, CFG)
    full = plan_rebuild(history, *args, open_predictions=open_predictions, retrain=False)
    fast = plan_rebuild(
        recent, *args, open_predictions=open_predictions, retrain=False, closed=closed
    )
    assert len(full.resolutions) and len(full.scored.candidates) and len(full.breakouts)
    _assert_same(full, fast)


def test_kept_closed_months_serve_rescores_only_within_their_month() -> None:
    history = simulate_listener(3, end=NOW)
    result = plan_rebuild(
        history, pd.DataFrame(), None, NOW, None, CFG, retrain=False, keep_closed=True
    )
    assert result.closed is not None
    with pytest.raises(ValueError, match="rescore"):
        plan_rebuild(history, pd.DataFrame(), None, NOW, None, CFG, closed=result.closed)
    midnight = 1_793_491_200  # 2026-11-01 00:00 UTC
    assert not closed_months.usable(midnight, None) and closed_months.usable(midnight + 1, None)
    at_midnight = plan_rebuild(
        history, pd.DataFrame(), None, midnight, None, CFG, retrain=False, keep_closed=True
    )
    assert at_midnight.closed is None


def test_a_damaged_or_foreign_file_is_not_used(tmp_path: Path) -> None:
    history = simulate_listener(3, end=NOW)
    result = plan_rebuild(
        history, pd.DataFrame(), None, NOW, None, CFG, retrain=False, keep_closed=True
    )
    path = tmp_path / closed_months.FILE_NAME
    closed_months.save(result.closed, path)
    assert closed_months.load(path, "") is not None
    assert closed_months.load(path, "another key") is None
    path.write_bytes(path.read_bytes()[:1000])
    assert closed_months.load(path, "") is None
    assert closed_months.load(tmp_path / "missing.npz", "") is None


def _stored(url: str) -> dict[str, pd.DataFrame]:
    """What the latest run shows: its candidates and reasons, the status, the breakouts."""
    path = url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        run = conn.execute("SELECT MAX(id) FROM model_runs").fetchone()[0]
        queries = {
            "candidates": "SELECT artist_id, month, window, probability, rank, above_threshold, "
            f"first_seen_ts, plays FROM candidates WHERE run_id = {run} "
            "ORDER BY window, artist_id",
            "reasons": "SELECT c.window, c.artist_id, r.position, r.feature, r.value, "
            "r.contribution, r.sentence FROM candidate_reasons r JOIN candidates c "
            f"ON c.id = r.candidate_id WHERE c.run_id = {run} "
            "ORDER BY c.window, c.artist_id, r.position",
            "status": "SELECT * FROM artist_status ORDER BY artist_id",
            "predictions": "SELECT artist_id, window, month, probability, outcome, core_month "
            "FROM predictions ORDER BY window, artist_id, month",
        }
        out = {name: pd.read_sql_query(sql, conn) for name, sql in queries.items()}
    out["status"] = out["status"].drop(columns=["run_id"])
    return out


async def _add(db: Database, frame: pd.DataFrame) -> None:
    async with db.sessions() as session, session.begin():
        await store_scrobbles(session, frame)


def _rescore_both_ways(db: Database, models: Path) -> tuple[dict[str, pd.DataFrame], bool]:
    """Rescore with the kept closed months, then from the whole history; the same result.
    Also whether the first rescore left the kept file as it was (it read recent plays only)."""
    path = models / closed_months.FILE_NAME
    kept_file = path.read_bytes()
    rescore(db.url, models, now=NOW)
    untouched = path.read_bytes() == kept_file
    kept = _stored(db.url)
    (models / closed_months.FILE_NAME).unlink()
    rescore(db.url, models, now=NOW)
    whole = _stored(db.url)
    for name, frame in kept.items():
        pd.testing.assert_frame_equal(frame, whole[name], obj=name)
    return kept, untouched


@pytest.mark.slow
async def test_rescores_after_syncs_equal_full_rescores_also_after_a_late_scrobble(
    db: Database, tmp_path: Path
) -> None:
    history = simulate_listener(11, end=NOW)
    synced = history["ts"].to_numpy() >= NOW - 4 * DAY
    await _add(db, history[~synced])
    models = tmp_path / "models"
    rebuild(db.url, models, now=NOW - 4 * DAY)  # trains and keeps the closed months
    first_key = _key(models)

    await _add(db, history[synced])  # a sync: new plays in the month in progress
    before = _stored(db.url)
    stored = (models / closed_months.FILE_NAME).read_bytes()
    kept, untouched = _rescore_both_ways(db, models)
    assert untouched and _key(models) == first_key
    assert not kept["candidates"].equals(before["candidates"])  # the new plays count

    # Last.fm delivers a play late, into October (closed): the kept months no longer apply.
    status = kept["status"].set_index("artist_id")
    artist_id = int(status.index[status["plays_last_month"].to_numpy() > 0][0])
    path = db.url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        name = conn.execute("SELECT name FROM artists WHERE id = ?", (artist_id,)).fetchone()[0]
    late = history.iloc[:1].assign(ts=OCT_15, artist=name, track="A late one", album="Late")
    await _add(db, late)
    (models / closed_months.FILE_NAME).write_bytes(stored)  # the copy kept before the late play
    after, untouched = _rescore_both_ways(db, models)
    assert not untouched and _key(models) != first_key
    plays = after["status"].set_index("artist_id")["plays_last_month"]
    assert plays[artist_id] == status.loc[artist_id, "plays_last_month"] + 1
