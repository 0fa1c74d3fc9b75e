"""Rebuild end to end on a real SQLite file, and the read queries behind the bot and the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from bot.db.models import Candidate, CandidateReason, Feedback, ModelRun
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.services import queries
from bot.services import rebuild as rebuild_module
from bot.services.feedback import DISMISS, record_feedback
from bot.services.rebuild import rebuild
from pipeline.rebuild import plan_rebuild
from pipeline.simulate import simulate_listener
from pipeline.train import load_bundle

NOW = 1_795_176_000  # 2026-11-20 12:00 UTC
DAY = 86_400


async def _store(db: Database, frame: pd.DataFrame) -> None:
    async with db.sessions() as session, session.begin():
        await store_scrobbles(session, frame)


async def _count(db: Database, model: type) -> int:
    async with db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


@pytest.fixture
async def stocked(db: Database) -> Database:
    await _store(db, simulate_listener(11, end=NOW))
    return db


async def test_rebuild_stores_a_run_with_ranked_candidates_and_reasons(
    stocked: Database, tmp_path: Path
) -> None:
    report = rebuild(stocked.url, tmp_path / "models", now=NOW)
    assert report.status == "model" and report.trained
    assert set(report.timings) == {"load", "features", "labels", "train", "score", "store"}
    assert set(report.timings) <= set(rebuild_module.STAGES)
    assert report.candidates["trailing"] > 0 and report.candidates["month"] > 0
    assert (tmp_path / "models" / "model.json").exists()
    n_cands = await _count(stocked, Candidate)
    assert n_cands == sum(report.candidates.values())
    assert n_cands <= await _count(stocked, CandidateReason) <= 3 * n_cands
    async with stocked.sessions() as session:
        run = await queries.latest_run(session)
        listed = await queries.current_candidates(session, limit=50)
    assert run is not None and run.id == report.run_id and run.scored_month == "2026-10"
    assert run.created_at.tzinfo is not None and run.metrics["validation"]["rows"] > 0
    # One list: each artist once, by the odds shown, whichever window they come from.
    odds = [c.probability for c in listed]
    assert odds == sorted(odds, reverse=True)
    assert {c.window for c in listed} == {"trailing", "month"}
    assert [c.rank for c in listed] == list(range(1, len(listed) + 1))
    assert len({c.artist_id for c in listed}) == len(listed)
    assert all(c.reasons or c.concerns for c in listed)


@pytest.mark.slow
async def test_retrain_only_when_data_or_feedback_changed(
    stocked: Database, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    first = rebuild(stocked.url, models, now=NOW)
    second = rebuild(stocked.url, models, now=NOW)
    assert first.trained and not second.trained
    assert second.run_id > first.run_id
    async with stocked.sessions() as session, session.begin():
        top = (await queries.current_candidates(session, 1))[0]
        await record_feedback(session, top.candidate_id, DISMISS)
    third = rebuild(stocked.url, models, now=NOW)
    assert third.trained
    assert rebuild(stocked.url, models, now=NOW, force_train=True).trained


async def test_a_foreign_model_file_is_replaced_not_loaded(
    stocked: Database, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "model.json").write_text('{"format": "something-else"}')
    (models / "model.joblib").write_bytes(b"not a pickle")
    report = rebuild(stocked.url, models, now=NOW)
    assert report.trained and report.status == "model"
    assert "breakout-artists-model" in (models / "model.json").read_text()


@pytest.mark.slow
async def test_old_runs_are_pruned_but_recent_ones_kept(
    stocked: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rebuild_module, "KEEP_RUNS", 2)
    monkeypatch.setattr(rebuild_module, "KEEP_DAYS", 0)
    runs = [rebuild(stocked.url, tmp_path / "m", now=NOW).run_id for _ in range(3)]
    async with stocked.sessions() as session:
        kept = (await session.execute(select(ModelRun.id).order_by(ModelRun.id))).scalars().all()
        orphans = (
            await session.execute(select(func.count()).where(Candidate.run_id == runs[0]))
        ).scalar_one()
    assert kept == runs[1:]
    assert orphans == 0


async def test_three_months_get_calibrated_odds_from_the_prior(
    db: Database, tmp_path: Path
) -> None:
    await _store(db, simulate_listener(2, months=3, end=NOW))
    report = rebuild(db.url, tmp_path / "models", now=NOW)
    assert report.status == "model" and report.trained
    bundle = load_bundle(tmp_path / "models")
    assert bundle.kind == "prior" and bundle.metadata["evidence"]["source"] == "prior"
    async with db.sessions() as session:
        run = await queries.latest_run(session)
        listed = await queries.current_candidates(session)
    assert run is not None and not run.is_fallback and run.threshold is not None
    odds = [c.probability for c in listed]
    assert listed and all(0 < p < 1 for p in odds) and len(set(odds)) > 1


async def test_tiny_history_gets_the_fallback_ranking(db: Database, tmp_path: Path) -> None:
    history = simulate_listener(2, months=3, end=NOW)
    await _store(db, history[history["ts"] > NOW - 20 * DAY])  # under a month
    report = rebuild(db.url, tmp_path / "models", now=NOW)
    assert report.status == "fallback" and not report.trained
    assert report.message.startswith("not enough history yet: ")
    assert "months" in report.message and "breakouts" in report.message
    assert report.candidates["trailing"] > 0
    async with db.sessions() as session:
        run = await queries.latest_run(session)
        listed = await queries.current_candidates(session)
    assert run is not None and run.is_fallback and run.threshold is None
    assert listed and not any(c.above_threshold for c in listed)


async def test_empty_database_rebuilds_to_an_empty_fallback(db: Database, tmp_path: Path) -> None:
    report = rebuild(db.url, tmp_path / "models", now=NOW)
    assert report.status == "fallback" and report.candidates == {"trailing": 0, "month": 0}


@pytest.mark.slow
async def test_judged_artists_leave_the_lists(stocked: Database, tmp_path: Path) -> None:
    rebuild(stocked.url, tmp_path / "models", now=NOW)
    async with stocked.sessions() as session, session.begin():
        run = await queries.latest_run(session)
        assert run is not None
        before = await queries.current_candidates(session, 5)
        await record_feedback(session, before[0].candidate_id, DISMISS)
        await record_feedback(session, before[1].candidate_id, 1)
    async with stocked.sessions() as session:
        after = await queries.current_candidates(session, 5)
        picks_after = await queries.standout_candidates(session, run, 50)
        judged = set((await session.execute(select(Feedback.artist_id))).scalars())
    assert before[0].artist_id not in {c.artist_id for c in after}
    assert not judged & {c.artist_id for c in after}
    assert not judged & {c.artist_id for c in picks_after}
    assert all(run.stands_out(c) for c in picks_after)
    # Dismissed artists stay out after the next rebuild too.
    rebuild(stocked.url, tmp_path / "models", now=NOW)
    async with stocked.sessions() as session:
        again = await queries.current_candidates(session, 50)
    assert not judged & {c.artist_id for c in again}


async def test_find_artist_exact_case_insensitive_fuzzy_unknown(db: Database) -> None:
    frame = pd.DataFrame(
        {
            "ts": [1_700_000_000 + i for i in range(5)],
            "artist": ["Simon & Garfunkel", "Radiohead", "Radio Moscow", "Röyksopp", "Bonobo"],
            "track": "t",
            "album": "",
        }
    )
    await _store(db, frame)
    async with db.sessions() as session:
        exact = await queries.find_artist(session, "Radiohead")
        folded = await queries.find_artist(session, "  simon &  GARFUNKEL ")
        fuzzy = await queries.find_artist(session, "radiohed")
        part = await queries.find_artist(session, "garfunkel")
        unknown = await queries.find_artist(session, "Radoi")
        nothing = await queries.find_artist(session, "zzzzzzzz qqqq")
    assert exact.artist is not None and exact.artist[1] == "Radiohead"
    assert folded.artist is not None and folded.artist[1] == "Simon & Garfunkel"
    assert fuzzy.artist is not None and fuzzy.artist[1] == "Radiohead"
    assert part.artist is not None and part.artist[1] == "Simon & Garfunkel"
    assert unknown.artist is None
    assert "Radiohead" in [n for _, n in unknown.suggestions]
    assert len(unknown.suggestions) <= 5
    assert nothing.artist is None and nothing.suggestions == []


@pytest.mark.slow
async def test_explanations_for_candidate_core_and_dismissed(
    stocked: Database, tmp_path: Path
) -> None:
    rebuild(stocked.url, tmp_path / "models", now=NOW)
    history = simulate_listener(11, end=NOW)
    core_name = history["artist"].value_counts().index[0]
    async with stocked.sessions() as session, session.begin():
        top = (await queries.current_candidates(session, 1))[0]
        good = await queries.artist_explanation(session, top.artist_id)
        core_id = (await queries.find_artist(session, core_name)).artist[0]
        core = await queries.artist_explanation(session, core_id)
        await record_feedback(session, top.candidate_id, DISMISS)
    async with stocked.sessions() as session:
        dismissed = await queries.artist_explanation(session, top.artist_id)
    assert good.candidate is not None and good.candidate.candidate_id == top.candidate_id
    assert good.why_not is None and good.threshold == good.run.threshold
    assert good.first_seen is not None and good.monthly_plays[-1][0] == "2026-11"
    assert sum(p for _, p in good.monthly_plays) == int((history["artist"] == top.artist).sum())
    assert core.candidate is None and core.why_not.startswith("already a core artist")
    months = [m for m, _ in core.monthly_plays]
    assert months == sorted(months) and len(months) >= 36  # zero months filled in
    assert dismissed.feedback is not None and dismissed.feedback.word == "dismissed"
    assert dismissed.why_not.startswith("dismissed by you on ")


def _status_of(plays: list[tuple[str, str, int]], now: str) -> dict[str, dict]:
    from tests.test_features import history, ts

    result = plan_rebuild(history(*plays), NO_FEEDBACK, None, ts(now))
    return {r["artist_key"]: r for r in result.status.to_dict("records")}


NO_FEEDBACK = pd.DataFrame({"artist_key": [], "month": [], "verdict": []})


def test_status_follows_the_rules_on_a_hand_made_history() -> None:
    from tests.test_features import filler

    plays = [filler(f"2024-{m:02d}", 3000) for m in range(1, 9)]
    plays += [("2024-08-03", "Fresh", 5), ("2024-08-05", "Core", 25)]
    plays += [("2024-06-05", "WasCore", 30), ("2024-08-10", "WasCore", 4)]
    plays += [("2024-01-03", "Old", 3), ("2024-08-06", "Old", 5)]
    plays += [("2024-08-01", "Few", 2), ("2024-07-10", "LastMonth", 4)]
    status = _status_of(plays, "2024-08-15T12:00:00")
    fresh, core, was, old = status["fresh"], status["core"], status["wascore"], status["old"]
    assert fresh["verdict"] == "candidate" and fresh["eligible_trailing"]
    assert (fresh["plays_month"], fresh["plays_needed"], fresh["months_since_discovery"]) == (
        5,
        20,
        0,
    )
    assert fresh["month_total"] == 3000 + 5 + 25 + 4 + 5 + 2
    assert core["verdict"] == "core" and core["core_now"] and core["first_core_month"] == "2024-08"
    assert was["verdict"] == "recently_core" and was["core_prev2"] and not was["core_prev1"]
    assert was["first_core_month"] == was["last_core_month"] == "2024-06"
    assert old["verdict"] == "too_old" and old["months_since_discovery"] == 7
    assert status["few"]["verdict"] == "too_few_plays"
    last = status["lastmonth"]
    assert (
        last["verdict"] == "candidate" and last["eligible_month"] and last["plays_last_month"] == 4
    )
    assert not status["filler"]["eligible_month"] and status["filler"]["verdict"] == "core"


def test_the_first_hours_of_a_month_make_nobody_core() -> None:
    from tests.test_features import filler

    # About 500 scrobbles a month: 1 % is 6 plays. At 06:00 on the 1st the month has 3 so far.
    plays = [filler(f"2024-{m:02d}", 500) for m in range(1, 8)]
    plays += [("2024-08-01", "Early", 2), ("2024-08-01", "Other", 1)]
    plays += [("2024-07-20", "Steady", 6)]
    status = _status_of(plays, "2024-08-01T06:00:00")
    early = status["early"]
    assert early["month_total"] == 3 and early["plays_needed"] == 6  # 1 % of July's 506
    assert not early["core_now"] and pd.isna(early["first_core_month"])
    assert status["steady"]["first_core_month"] == "2024-07"  # 6 of July's 506 >= 1 %


def test_a_short_history_has_nobody_recently_core() -> None:
    """With one complete month the core lookback reaches before the first period: an artist
    never core is not "recently core" (the card said "core in None", the API answered 500)."""
    from tests.test_features import filler

    plays = [filler("2024-07", 400), ("2024-07-20", "Fresh", 2), ("2024-07-10", "Loud", 30)]
    status = _status_of(plays, "2024-08-02T12:00:00")
    assert status["fresh"]["verdict"] == "too_few_plays"
    assert status["loud"]["verdict"] == "recently_core"
    assert status["loud"]["last_core_month"] == "2024-07"


def test_fingerprint_covers_every_training_row() -> None:
    from pipeline.config import PipelineConfig
    from pipeline.labels import add_labels
    from pipeline.rebuild import fingerprint
    from pipeline.score import monthly_table

    cfg = PipelineConfig()
    table = add_labels(monthly_table(simulate_listener(11, end=NOW), cfg, NOW), cfg)
    base = fingerprint(table, NO_FEEDBACK, cfg, None)
    assert fingerprint(table.copy(), NO_FEEDBACK, cfg, None) == base
    renamed = table.assign(artist=table["artist"].str.upper())
    assert fingerprint(renamed, NO_FEEDBACK, cfg, None) == base  # display names train nothing
    # a row only the training pool holds (learnable, too old to be eligible)
    older = table["learnable"] & ~table["eligible"] & table["label"].notna()
    older &= table["period"] >= cfg.cold_start_months
    assert older.any()
    changed = table.copy()
    changed.loc[older[older].index[0], "core_progress_t"] += 0.01
    assert fingerprint(changed, NO_FEEDBACK, cfg, None) != base
    assert fingerprint(table, NO_FEEDBACK, cfg, "Asia/Tokyo") != base


async def test_why_reads_the_stored_status(db: Database, tmp_path: Path) -> None:
    from tests.test_features import filler, history, ts

    plays = [filler(f"2024-{m:02d}", 3000) for m in range(1, 9)]
    plays += [("2024-08-05", "Core", 25), ("2024-01-03", "Old", 3), ("2024-08-06", "Old", 5)]
    await _store(db, history(*plays))
    rebuild(db.url, tmp_path / "m", now=ts("2024-08-15T12:00:00"))
    async with db.sessions() as session:
        core_id = (await queries.find_artist(session, "Core")).artist[0]
        old_id = (await queries.find_artist(session, "Old")).artist[0]
        core = await queries.artist_explanation(session, core_id)
        old = await queries.artist_explanation(session, old_id)
    assert core.status is not None and core.status.core_now and core.status.plays_to_core == 0
    assert core.why_not == "already a core artist (25 plays this month; 20 make an artist core)"
    assert old.status is not None and old.status.verdict == "too_old"
    assert old.why_not == "first played over 6 months ago, so no longer a new artist"
    assert old.monthly_plays[0] == ("2024-01", 3) and old.monthly_plays[-1] == ("2024-08", 5)
