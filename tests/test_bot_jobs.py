"""Scheduled work end to end: monthly push exactly once, catch-up, failures, rebuild, backfill."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.db import jobruns
from bot.services import orchestration
from bot.services.queries import STANDOUT
from bot.telegram import jobs, messages
from bot.telegram.state import get_state
from pipeline.simulate import simulate_listener
from tests.bot_harness import (
    OWNER,
    SEEDED_AT,
    Clock,
    ask,
    bot_settings,
    copy_seeded,
    flag_top,
    idle,
    keyboard,
    lastfm_settings,
    running,
    seed_directory,
    sql,
)
from tests.fakes.lastfm_server import FakeLastfm, FakeScrobble
from tests.fakes.telegram_server import Call, FakeTelegram

PUSH_DAY = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)  # after the 2026-10 push slot


def pushes(fake: FakeTelegram) -> list[str]:
    return [
        c.params["text"]
        for c in fake.calls_of("sendMessage")
        if c.params["text"].startswith("📬 <b>October 2026</b> has closed")
    ]


async def standouts(data_dir: Path) -> list[int]:
    """Artists of the latest run's list that stand out (queries.STANDOUT × the base rate and
    flagged), in list order."""
    run = await sql(data_dir, "SELECT id, metrics_json FROM model_runs ORDER BY id DESC LIMIT 1")
    base = json.loads(run[0][1]).get("base_rate") or 0.0
    rows = await sql(
        data_dir,
        "SELECT artist_id, probability FROM candidates WHERE rank > 0 AND above_threshold "
        "AND run_id = :run AND artist_id NOT IN (SELECT artist_id FROM feedback) ORDER BY rank",
        run=run[0][0],
    )
    return [a for a, p in rows if p >= STANDOUT * base]


@pytest.mark.slow
async def test_missed_push_is_caught_up_and_never_repeated(
    fake: FakeTelegram, data_dir: Path
) -> None:
    settings = bot_settings(fake, data_dir, BREAKOUT_PUSH_MAX=3)
    clock = Clock(PUSH_DAY)
    async with running(settings, clock, schedule=True) as app:
        # Start-up catch-up: the nightly run of 2026-11-05 and the missed push of 2026-10.
        push = await fake.wait_for("sendMessage", where=lambda c: "has closed" in c.params["text"])
        assert push.params["text"].startswith("📬 <b>October 2026</b> has closed")
        rows = keyboard(push)
        # The push's picks are the artists of the one list /candidates shows that stand out
        # (flagged, odds clearly above the base rate), in its order; none: it says so.
        pushed = [int(r[0]["callback_data"].removeprefix("why:")) for r in rows]
        assert pushed == (await standouts(data_dir))[:3]
        if not pushed:
            assert "No new artist" in push.params["text"]
        await idle(app)
    async with running(settings, clock) as app:
        await jobs.catch_up(app)  # nightly already ran today, push already claimed
        assert await jobs.monthly_push(app) == "already pushed"
        clock.at = datetime(2026, 12, 1, 8, 59, tzinfo=UTC)  # still the 2026-10 slot
        assert await jobs.monthly_push(app) == "already pushed"
    assert len(pushes(fake)) == 1
    runs = await sql(data_dir, "SELECT job, period, outcome FROM job_runs ORDER BY id")
    assert ("monthly_push", "2026-10", "ok") in runs
    assert ("nightly", "2026-11-05", "ok") in runs
    assert sum(1 for job, *_ in runs if job == "monthly_push") == 1


async def test_push_leaves_out_judged_artists(fake: FakeTelegram, data_dir: Path) -> None:
    settings = bot_settings(fake, data_dir, BREAKOUT_PUSH_MAX=2)
    await flag_top(data_dir, 3)
    above = await sql(
        data_dir,
        "SELECT artist_id FROM candidates WHERE rank > 0 AND above_threshold ORDER BY rank",
    )
    judged = above[0][0]
    await sql(
        data_dir,
        "INSERT INTO feedback (artist_id, month, verdict, created_at, updated_at) "
        "VALUES (:a, '2026-10', 0, '2026-11-01', '2026-11-01')",
        a=judged,
    )
    expected = [a for a in await standouts(data_dir) if a != judged][:2]
    async with running(settings, Clock(PUSH_DAY)) as app:
        assert (await jobs.monthly_push(app)).startswith("pushed")
    push = fake.calls_of("sendMessage")[-1]
    shown = [int(r[0]["callback_data"].removeprefix("why:")) for r in keyboard(push)]
    # The next standouts of the one list take the judged one's place; none left: it says so.
    assert judged not in shown and shown == expected and len(shown) == 2


@pytest.mark.slow
async def test_crash_between_claim_and_send_is_not_resent(
    fake: FakeTelegram, data_dir: Path
) -> None:
    await sql(
        data_dir,
        "INSERT INTO job_runs (job, period, started_at, outcome, detail) "
        "VALUES ('monthly_push', '2026-10', '2026-11-01 09:00:00', 'running', '')",
    )
    async with running(bot_settings(fake, data_dir), Clock(PUSH_DAY)) as app:
        await jobs.catch_up(app)
    notices = [c.params["text"] for c in fake.calls_of("sendMessage") if "push" in c.params["text"]]
    assert notices == [messages.PUSH_INTERRUPTED.format(month="October 2026")]
    assert pushes(fake) == []
    runs = await sql(data_dir, "SELECT outcome FROM job_runs WHERE job = 'monthly_push'")
    assert runs == [("interrupted",)]


async def test_undelivered_push_is_retried(
    fake: FakeTelegram, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(bot_settings(fake, data_dir), Clock(PUSH_DAY)) as app:
        fake.fail_next("sendMessage", code=400, description="Bad Request: chat not found")
        with caplog.at_level(logging.INFO):
            assert await jobs.monthly_push(app) == jobruns.UNDELIVERED
        said = [r for r in caplog.records if "not delivered" in r.getMessage()]
        assert [(r.levelno, r.exc_info) for r in said] == [(logging.INFO, None)]
        assert "not found" in said[0].getMessage()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        outcome = await sql(data_dir, "SELECT outcome FROM job_runs WHERE job = 'monthly_push'")
        assert outcome == [(jobruns.UNDELIVERED,)]
        assert (await jobs.monthly_push(app)).startswith("pushed")
        assert await jobs.monthly_push(app) == "already pushed"
    assert len(pushes(fake)) == 1


async def test_failed_job_tells_the_owner_once(fake: FakeTelegram, data_dir: Path) -> None:
    async def broken(app: object) -> None:
        raise RuntimeError("disk full")

    async with running(bot_settings(fake, data_dir), Clock(PUSH_DAY)) as app:
        assert app.job_queue is not None
        app.job_queue.run_once(jobs.in_background(broken), 0, name="nightly")
        notice = await fake.wait_for("sendMessage")
        assert notice.params["text"] == (
            "⚠️ The nightly rebuild failed (RuntimeError: disk full); it is logged, and I try "
            "again at its next run."
        )
        app.job_queue.run_once(jobs.in_background(broken), 0, name="nightly")
        await ask(fake, "/help")  # processed after the second failure
        await idle(app)
    assert len([c for c in fake.calls_of("sendMessage") if "failed" in c.params["text"]]) == 1


@pytest.fixture(scope="module")
def big_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("big") / "data"
    directory.mkdir()
    seed_directory(directory, months=120, seed=3)
    return directory


@pytest.mark.slow
async def test_answers_while_a_rebuild_runs(
    fake: FakeTelegram, big_history: Path, tmp_path: Path
) -> None:
    data_dir = copy_seeded(big_history, tmp_path / "data")
    shutil.rmtree(data_dir / "models")  # force a full retrain
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        started = time.monotonic()
        rebuild = asyncio.create_task(orchestration.run_rebuild(get_state(app)))
        await asyncio.sleep(0.05)
        assert get_state(app).rebuild_lock.locked()
        reply = await ask(fake, "/candidates")
        answered = time.monotonic() - started
        assert not rebuild.done(), "the rebuild finished before the reply: make it longer"
        assert keyboard(reply)
        report = await rebuild
    assert report.trained and answered < 1.0


def lastfm_scrobbles(months: int, end: float) -> list[FakeScrobble]:
    frame = simulate_listener(11, months, end)
    return [
        FakeScrobble(int(ts), artist, track, album)
        for ts, artist, track, album in zip(
            frame["ts"], frame["artist"], frame["track"], frame["album"], strict=True
        )
    ]


def text(call: Call) -> str:
    return call.params["text"]


def is_listing(call: Call) -> bool:
    """A reply to /candidates (not a progress or breakout message racing with it)."""
    return text(call).startswith(("No predictions yet", "<b>Breakout candidates</b>"))


@pytest.mark.slow
async def test_fresh_start_backfills_then_answers(
    fake: FakeTelegram, tmp_path: Path, suite_now: datetime
) -> None:
    now = suite_now
    data_dir = tmp_path / "fresh"
    with FakeLastfm(lastfm_scrobbles(12, (now - timedelta(days=1)).timestamp())) as lastfm:
        lastfm.inject("hold", page=3)
        settings = lastfm_settings(fake, data_dir, lastfm)
        async with running(settings, Clock(now), schedule=True):
            await asyncio.to_thread(lastfm.wait_for_request, lambda r: r.page == 3)
            # The progress message is sent once, then edited: wait for it so that no reply
            # below can be confused with it.
            await fake.wait_for(
                "sendMessage", where=lambda c: c.params["text"].startswith("📥 Reading your")
            )
            before = await ask(fake, "/candidates", where=is_listing)
            assert before.params["text"].startswith("No predictions yet")
            progress = await ask(fake, "/start", where=lambda c: "Breakout Artists" in text(c))
            assert re.search(
                r"Reading your whole history: page [12] of \d+", progress.params["text"]
            )
            busy = await ask(fake, "/sync", where=lambda c: "sync" in text(c))
            assert busy.params["text"].startswith("A sync is already running (page ")
            lastfm.release()
            deadline = time.monotonic() + 30
            while not await sql(
                data_dir, "SELECT 1 FROM job_runs WHERE job = 'nightly' AND outcome = 'ok'"
            ):
                assert time.monotonic() < deadline, (
                    "the start-up backfill and rebuild did not finish"
                )
                await asyncio.sleep(0.1)
            done = await fake.wait_for(
                "sendMessage", where=lambda c: c.params["text"].startswith("✅ Your history is in")
            )
            assert "<b>Breakout candidates</b>" in done.params["text"] and keyboard(done)
            progress_shown = fake.calls_of("sendMessage")
            assert any(c.params["text"].startswith("📥 Reading your") for c in progress_shown)
            after = await ask(fake, "/candidates", where=is_listing)
            assert keyboard(after)
            start = fake.mark()
            fake.send_text(OWNER, "/start")
            status = await fake.wait_for(
                "sendMessage", start=start, where=lambda c: "Breakout Artists" in c.params["text"]
            )
            assert "Last sync: today" in status.params["text"]
            start = fake.mark()
            fake.send_text(OWNER, "/sync")
            await fake.wait_for(
                "sendMessage",
                start=start,
                where=lambda c: c.params["text"] == messages.SYNC_STARTED.format(source="Last.fm"),
            )
            done = await fake.wait_for(
                "sendMessage", start=start, where=lambda c: "Synced with" in c.params["text"]
            )
            assert done.params["text"].endswith("read, nothing new.")
    stored = await sql(data_dir, "SELECT COUNT(*) FROM scrobbles")
    assert stored == [(len(lastfm.expected_keys()),)]
