"""Track record: resolution exactly at the horizon, stored predictions never rewritten, the
backtest record for a new install, breakout moments, and `breakout record` from the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from bot.cli import main
from bot.db.models import ModelRun, Prediction
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.render import FEW_RESOLVED
from bot.services import rebuild as rebuild_module
from bot.services import record
from bot.services.rebuild import rebuild
from pipeline.config import PipelineConfig
from pipeline.rebuild import resolve
from pipeline.record import TrackRecord, backtest_predictions, track_record
from pipeline.score import monthly_table
from pipeline.simulate import simulate_listener
from tests.test_features import filler, history, ts

CFG = PipelineConfig()
NOW = 1_795_176_000  # 2026-11-20 12:00 UTC
DAY = 86_400
MONTHS = [f"2024-{m:02d}" for m in range(1, 10)]


def _hand_made() -> pd.DataFrame:
    """Hit: eligible in May, core in July. Miss: eligible in May, never core.
    Quick: flagged mid-May in the trailing window, core in May itself."""
    plays = [filler(m, 3000) for m in MONTHS]
    plays += [("2024-05-03", "Hit", 5), ("2024-07-03", "Hit", 25)]
    plays += [("2024-05-04", "Miss", 6), ("2024-06-04", "Miss", 2)]
    plays += [("2024-05-05", "Quick", 4), ("2024-05-25", "Quick", 30)]
    return history(*plays)


OPEN = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "window": ["month", "month", "trailing"],
        "artist_key": ["hit", "miss", "quick"],
        "month": ["2024-05", "2024-05", "2024-05"],
    }
)


def _resolved_at(now: str) -> dict[int, tuple[str, str | None]]:
    scrobbles = _hand_made()
    table = monthly_table(scrobbles, CFG, ts(now))
    out = resolve(OPEN, table, CFG)
    rows = out[["id", "outcome", "core_month"]].itertuples(index=False)
    return {int(i): (o, None if pd.isna(m) else m) for i, o, m in rows}


def test_a_prediction_resolves_exactly_when_its_horizon_passes() -> None:
    # May's horizon is June and July: open until the last second of July, resolved at August.
    assert _resolved_at("2024-06-15T00:00:00") == {}
    assert _resolved_at("2024-07-31T23:59:59") == {}
    assert _resolved_at("2024-08-01T00:00:00") == {
        1: ("core", "2024-07"),
        2: ("not_core", None),
        3: ("core", "2024-05"),
    }
    assert _resolved_at("2024-09-20T00:00:00")[2] == ("not_core", None)


def test_track_record_counts_hit_rate_base_rate_and_bands() -> None:
    frame = pd.DataFrame(
        {
            "artist": list("ABCDEFGH"),
            "month": ["2024-01"] * 4 + ["2024-02"] * 4,
            "probability": [0.6, 0.5, 0.02, 0.03, 0.45, 0.01, 0.3, 0.15],
            "above_threshold": [True, True, False, False, True, False, False, False],
            "outcome": ["core", "not_core", "not_core", "core", None, "not_core", None, "core"],
        }
    )
    tr = track_record(frame, "live")
    assert (tr.flagged, tr.became_core, tr.did_not, tr.still_open) == (3, 1, 1, 1)
    assert tr.hit_rate == 0.5 and tr.scored == 6 and tr.base_rate == pytest.approx(3 / 6)
    assert [b.predictions for b in tr.bands] == [3, 1, 2]  # 0-5 %, 10-20 %, 40-100 %
    assert tr.bands[-1].observed == 0.5 and tr.bands[-1].predicted == pytest.approx(0.55)
    assert [(r.artist, r.outcome) for r in tr.recent] == [("A", "core"), ("B", "not_core")]
    again = TrackRecord.from_json(json.loads(json.dumps(tr.to_json())))
    assert again == tr and tr.to_json()["lift"] == pytest.approx(1.0)


def test_backtest_rows_become_resolved_records() -> None:
    class Result:
        predictions = pd.DataFrame(
            {
                "month": ["2024-01"] * 5,
                "artist_key": list("abcde"),
                "artist": list("ABCDE"),
                "probability": [0.9, 0.5, 0.4, np.nan, 0.1],  # NaN: a fallback month
                "above_threshold": [True, True, False, False, False],
                "label": [1.0, 0.0, 1.0, 0.0, 0.0],
            }
        )

    frame = backtest_predictions(Result())
    assert frame["artist"].tolist() == ["A", "B", "C", "E"]
    tr = track_record(frame, "backtest")
    assert (tr.source, tr.flagged, tr.became_core, tr.did_not, tr.still_open) == (
        "backtest",
        2,
        1,
        1,
        0,
    )
    assert tr.scored == 4 and tr.base_rate == 0.5


async def _store(db: Database, frame: pd.DataFrame) -> None:
    async with db.sessions() as session, session.begin():
        await store_scrobbles(session, frame)


async def _predictions(db: Database) -> pd.DataFrame:
    async with db.sessions() as session:
        rows = (await session.execute(select(Prediction).order_by(Prediction.id))).scalars().all()
    return pd.DataFrame(
        [{c.name: getattr(p, c.name) for c in Prediction.__table__.columns} for p in rows]
    )


FROZEN = ["id", "artist_id", "window", "month", "probability", "above_threshold", "made_at"]


@pytest.mark.slow
async def test_stored_predictions_are_never_rewritten_and_survive_pruning(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rebuild_module, "KEEP_RUNS", 1)
    monkeypatch.setattr(rebuild_module, "KEEP_DAYS", 0)
    listener = simulate_listener(11, end=NOW + 75 * DAY)
    await _store(db, listener[listener["ts"] < NOW])
    models = tmp_path / "models"
    rebuild(db.url, models, now=NOW)
    first = await _predictions(db)
    # every month-window artist is recorded; trailing ones only when flagged (the stricter
    # threshold policy may flag none of this listener's)
    assert len(first) and "month" in set(first["window"]) <= {"month", "trailing"}
    assert first.loc[first["window"] == "trailing", "above_threshold"].all()
    assert first["outcome"].isna().all()
    # Same month again, with a retrained model: nothing new for October, nothing changed.
    await _store(db, listener[listener["ts"] < NOW + 3 * DAY])
    rebuild(db.url, models, now=NOW + 3 * DAY, force_train=True)
    second = await _predictions(db)
    month_rows = second[second["window"] == "month"]
    assert not month_rows.duplicated(["artist_id", "month"]).any()
    pd.testing.assert_frame_equal(second[FROZEN].iloc[: len(first)], first[FROZEN])
    # Past October's horizon (Nov, Dec): October resolves, the stored numbers stay.
    await _store(db, listener)
    rebuild(db.url, models, now=NOW + 45 * DAY)
    third = await _predictions(db)
    pd.testing.assert_frame_equal(third[FROZEN].iloc[: len(second)], second[FROZEN])
    october = third[(third["window"] == "month") & (third["month"] == "2026-10")]
    assert october["outcome"].notna().all() and set(october["outcome"]) <= {"core", "not_core"}
    assert third.loc[third["month"] >= "2026-11", "outcome"].isna().all()
    resolved_core = october[october["outcome"] == "core"]
    assert resolved_core["core_month"].between("2026-11", "2026-12").all()
    assert october.loc[october["outcome"] == "not_core", "core_month"].isna().all()
    async with db.sessions() as session:
        runs = (await session.execute(select(func.count()).select_from(ModelRun))).scalar_one()
        live = await record.load_track_record(session)
    assert runs == 1  # pruned; predictions of the pruned runs are all still there
    assert live.source == "live" and live.scored == len(october)


async def test_breakout_moments_after_taking_stock(db: Database, tmp_path: Path) -> None:
    plays = [filler(m, 1000) for m in ("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")]
    plays += [("2026-07-03", "Old Core", 40), ("2026-11-03", "Harleighblu", 4)]
    await _store(db, history(*plays))
    rebuild(db.url, tmp_path / "m", now=ts("2026-11-05T00:00:00"))
    async with db.sessions() as session:
        assert await record.new_breakouts(session) == []  # Old Core predates the watching
    await _store(db, history(("2026-11-06", "Harleighblu", 13)))
    report = rebuild(db.url, tmp_path / "m", now=ts("2026-11-07T00:00:00"))
    async with db.sessions() as session:
        moments = await record.new_breakouts(session, run_id=report.run_id)
        again = await record.new_breakouts(session, since=moments[0].detected_at)
    assert [(m.artist, m.month, m.plays) for m in moments] == [("Harleighblu", "2026-11", 17)]
    assert moments[0].prediction is None  # fallback runs record no predictions
    assert again == []


def _write_history(path: Path, frame: pd.DataFrame) -> Path:
    """The seed's scrobbles.csv format."""
    out = pd.DataFrame(
        {
            "artist_name": frame["artist"],
            "track_name": frame["track"],
            "album_name": frame["album"],
            "date": frame["ts"],
        }
    )
    out.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_cli_record_from_an_imported_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}")
    # two years: the walk-forward needs a year of known labels before it sets a threshold
    listener = simulate_listener(5, months=24)
    source = _write_history(tmp_path / "scrobbles.csv", listener)
    assert main(["import", str(source)]) == 0
    capsys.readouterr()
    assert main(["record", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["source"] == "backtest" and "backtesting your history" in captured.err
    assert data["scored"] > 0 and data["flagged"] > 0 and data["still_open"] == 0
    assert data["became_core"] + data["did_not"] == data["flagged"]
    assert sum(b["predictions"] for b in data["bands"]) == data["scored"]
    # the second time it reads the stored record: no backtest, same figures
    assert main(["record"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "A replay of what I would have said each month" in captured.out
    decided = data["became_core"] + data["did_not"]
    verdict = (  # which one depends on the date the suite is pinned to: the replay's length
        "Replaying your history, my flags would have come true "
        if decided >= FEW_RESOLVED
        else f"Too early to judge: only {decided} of my flags"
    )
    assert captured.out.startswith(verdict)
    assert f"Flagged {data['flagged']} artist" in captured.out


@pytest.mark.slow
async def test_months_are_the_owners_months(db: Database, tmp_path: Path) -> None:
    # 1 Dec 00:30 in Tokyo is still 30 Nov in UTC: the owner's November is complete.
    tokyo_now = ts("2026-11-30T15:30:00")
    await _store(db, simulate_listener(11, end=tokyo_now))
    utc = rebuild(db.url, tmp_path / "m", now=tokyo_now)
    tokyo = rebuild(db.url, tmp_path / "m", now=tokyo_now, tz="Asia/Tokyo")
    assert utc.scored_month == "2026-10" and tokyo.scored_month == "2026-11"
    preds = await _predictions(db)
    assert set(preds.loc[preds["window"] == "month", "month"]) == {"2026-10", "2026-11"}
    assert set(preds.loc[preds["window"] == "trailing", "month"]) <= {"2026-11", "2026-12"}
    assert np.isin(
        preds.loc[preds["run_id"] == tokyo.run_id, "month"], ["2026-11", "2026-12"]
    ).all()


@pytest.mark.slow
def test_record_command_is_registered_and_lazy() -> None:
    from bot.cli import COMMANDS

    assert COMMANDS["record"] == "bot.commands.record:cmd_record"
    code = (
        "import sys, bot.cli, bot.commands.record; "
        "print(any(m in sys.modules for m in ('xgboost', 'sklearn', 'matplotlib')))"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_nothing_to_show_before_anything_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite3'}")
    assert main(["record", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "none"
    assert asyncio.iscoroutinefunction(record.load_track_record)


PREDICTED = [  # artist, window, month, probability, flagged, outcome
    ("Hit", "month", "2024-05", 0.6, 1, "core"),
    ("Miss", "month", "2024-05", 0.5, 1, "not_core"),
    ("Quiet", "month", "2024-05", 0.02, 0, "not_core"),
    ("Open", "month", "2024-06", 0.45, 1, None),
    ("Quick", "trailing", "2024-06", 0.7, 1, None),  # trailing rows are not the live record's
]


def write_predictions(url: str, rows: list[tuple]) -> None:
    """Predictions as the rebuild stores them, then its live track record (a real SQLite file)."""
    from bot.db.session import make_sync_engine
    from bot.services.rebuild import sql_time

    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            for artist, window, month, p, flagged, outcome in rows:
                conn.exec_driver_sql(
                    "INSERT INTO artists (key, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (artist.lower(), artist),
                )
                conn.exec_driver_sql(
                    "INSERT INTO predictions (artist_id, artist_name, window, month, probability,"
                    " above_threshold, plays, made_at, outcome) SELECT id, ?, ?, ?, ?, ?, 3, ?, ?"
                    " FROM artists WHERE key = ?",
                    (
                        artist,
                        window,
                        month,
                        p,
                        flagged,
                        "2024-06-01 00:00:00",
                        outcome,
                        artist.lower(),
                    ),
                )
            record.store_live_record(conn, sql_time(datetime.fromtimestamp(NOW, UTC)))
    finally:
        engine.dispose()


def _computed(rows: list[tuple]) -> TrackRecord:
    month = [r for r in rows if r[1] == "month"]
    frame = pd.DataFrame(
        [(a, m, p, bool(f), o) for a, _, m, p, f, o in month], columns=record.LIVE_COLUMNS
    )
    return track_record(frame, "live")


async def _read(db: Database) -> TrackRecord:
    async with db.sessions() as session:
        return await record.load_track_record(session)


async def test_the_live_record_is_stored_by_the_writer_and_read_as_stored(db: Database) -> None:
    assert await _read(db) == record.empty_record()  # nothing predicted, nothing stored
    write_predictions(db.url, PREDICTED)
    stored = await sql_rows(db, "SELECT kind, fingerprint FROM track_record_cache")
    assert stored == [("live", "5|3")]  # highest id, resolved rows
    expected = _computed(PREDICTED)
    assert expected.scored == 3 and expected.flagged == 3 and expected.became_core == 1
    assert await _read(db) == expected
    # the reader shows what was stored: a payload it did not compute itself
    await sql_rows(db, "UPDATE track_record_cache SET payload = json_set(payload, '$.flagged', 99)")
    assert (await _read(db)).flagged == 99
    write_predictions(db.url, [])  # a rescore that added and resolved nothing: not recomputed
    assert (await _read(db)).flagged == 99
    for damaged in ("{", "[]", '{"source": "live"}', '{"bands": [1]}'):
        await sql_rows(db, f"UPDATE track_record_cache SET payload = '{damaged}'")
        assert await _read(db) == expected, damaged


async def test_a_missing_or_stale_live_record_is_computed_as_before(db: Database) -> None:
    write_predictions(db.url, PREDICTED)
    await sql_rows(db, "DELETE FROM track_record_cache")  # rebuilt by an older version
    assert await _read(db) == _computed(PREDICTED)
    late = [("Late", "month", "2024-06", 0.3, 0, None)]
    write_predictions(db.url, late)  # the next rebuild stores it again
    assert await _read(db) == _computed(PREDICTED + late)
    await sql_rows(db, "UPDATE predictions SET outcome = 'core' WHERE artist_name = 'Open'")
    changed = [(*r[:5], "core") if r[0] == "Open" else r for r in PREDICTED + late]
    assert await _read(db) == _computed(changed)  # resolved since: the stored one is stale


async def sql_rows(db: Database, statement: str) -> list[tuple]:
    async with db.sessions() as session, session.begin():
        result = await session.execute(text(statement))
        return [tuple(r) for r in result] if result.returns_rows else []
