"""Issue 14 end to end: the track record is always there, an import shortens the first sync,
the backfill progress reaches an owner who writes for the first time, /record's verdict."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import pytest

from bot import cli
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.lastfm.client import RetryPolicy
from bot.lastfm.sync import LATE_SCROBBLE_WINDOW
from bot.listenbrainz.client import ListenBrainzClient
from bot.listenbrainz.sync import sync_listens
from bot.render import odds, odds_percent, odds_sentence, verdict_sentence
from bot.services.runtime import SyncProgress
from bot.telegram import charts, jobs
from bot.timeutil import in_words
from pipeline.record import Band, MonthOutcomes, TrackRecord
from tests.bot_harness import (
    OWNER,
    SEEDED_AT,
    Clock,
    ask,
    bot_settings,
    idle,
    keyboard,
    lastfm_settings,
    running,
    sql,
    transcript,
)
from tests.conftest import SUITE_NOW
from tests.fakes import FakeListenBrainz, make_listens
from tests.fakes.lastfm_server import FakeLastfm
from tests.fakes.telegram_server import FakeTelegram
from tests.test_bot_chat import artifacts
from tests.test_bot_jobs import lastfm_scrobbles

NOW = SUITE_NOW  # the suite's pinned instant (BREAKOUT_TEST_NOW), so an import agrees with the bot
PLACEHOLDER_OWNER = 1  # README step 3: "any number will do" until the real id is known


async def until(data_dir: Path, query: str, within: float = 90.0) -> None:
    """Wait until `query` returns a row."""
    deadline = time.monotonic() + within
    while not await sql(data_dir, query):
        assert time.monotonic() < deadline, f"never true: {query}"
        await asyncio.sleep(0.1)


@pytest.mark.slow  # a bot session end to end
async def test_record_after_the_readme_restart(fake: FakeTelegram, tmp_path: Path) -> None:
    """Step 4: start with a placeholder owner, restart with the real id mid-first-run."""
    data_dir = tmp_path / "fresh"
    with FakeLastfm(lastfm_scrobbles(12, (NOW - timedelta(days=1)).timestamp())) as lastfm:
        lastfm.inject("hold", page=3)
        first = lastfm_settings(fake, data_dir, lastfm, TELEGRAM_OWNER_ID=PLACEHOLDER_OWNER)
        async with running(first, Clock(NOW), schedule=True):
            await asyncio.to_thread(lastfm.wait_for_request, lambda r: r.page == 3)
        # The owner restarts the bot with the real id while the first run is at page 3.
        assert await sql(data_dir, "SELECT outcome FROM job_runs WHERE job = 'nightly'") != [
            ("ok",)
        ]
        lastfm.clear_faults()
        lastfm.release()
        async with running(
            lastfm_settings(fake, data_dir, lastfm), Clock(NOW), schedule=True
        ) as app:
            await until(data_dir, "SELECT 1 FROM track_record_cache WHERE kind = 'backtest'")
            await idle(app, within=120)
            start = fake.mark()
            reply = await ask(fake, "/record")
            chart = await fake.wait_for("sendPhoto", start=start)
    text = reply.params["text"]
    # a built replay opens with its verdict (with few flags: "too early to judge")
    assert text.startswith("<b>") and "No track record yet" not in text
    assert "A replay of what I would have said each month" in text
    assert "A replay of what I would have said each month" in text
    assert "How the odds held up" in text
    assert chart.files["photo"].startswith(b"\x89PNG")
    runs = await sql(data_dir, "SELECT outcome FROM job_runs WHERE job = 'nightly'")
    assert runs == [("ok",)], "the interrupted nightly run ran again"
    done = [c for c in fake.calls_of("sendMessage") if "Your history is in" in c.params["text"]]
    assert len(done) == 1 and done[0].params["chat_id"] == str(OWNER)


async def import_older(history: list, cut: int, path: Path) -> pd.DataFrame:
    """The scrobbles of `history` before `cut`, written as a Last.fm export file (the ghan
    format) at `path` and imported through `breakout import`; returns them."""
    older = pd.DataFrame(
        [(s.ts, s.artist, s.track, s.album) for s in history if s.ts < cut],
        columns=["ts", "artist", "track", "album"],
    )
    rows = pd.DataFrame(
        {
            "uts": older["ts"],
            "utc_time": "",
            "artist": older["artist"],
            "artist_mbid": "",
            "album": older["album"],
            "album_mbid": "",
            "track": older["track"],
            "track_mbid": "",
        }
    )
    rows.to_csv(path, index=False)
    assert await asyncio.to_thread(cli.main, ["import", str(path)]) == 0
    return older


@pytest.mark.slow  # a 6,000-scrobble backfill
async def test_import_then_sync_reads_only_what_is_newer(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "imported"
    history = lastfm_scrobbles(12, (NOW - timedelta(days=1)).timestamp())
    cut = int((NOW - timedelta(days=20)).timestamp())
    with FakeLastfm(history) as lastfm:
        settings = lastfm_settings(fake, data_dir, lastfm)
        monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
        older = await import_older(history, cut, tmp_path / "export.csv")
        async with running(settings, Clock(NOW), schedule=True) as app:
            await until(data_dir, "SELECT 1 FROM job_runs WHERE job = 'nightly' AND outcome = 'ok'")
            await idle(app, within=120)
            first_sync = [
                r for r in lastfm.requests if r.params.get("method") == "user.getrecenttracks"
            ]
            mark = len(lastfm.requests)
            start = fake.mark()
            fake.send_text(OWNER, "/sync full")
            await fake.wait_for(
                "sendMessage", start=start, where=lambda c: "Synced with" in c.params["text"]
            )
            await idle(app, within=60)
        full = [
            r for r in lastfm.requests[mark:] if r.params.get("method") == "user.getrecenttracks"
        ]
    newest = int(older["ts"].max())
    assert {r.params.get("from") for r in first_sync} == {str(newest - LATE_SCROBBLE_WINDOW)}
    all_pages = -(-len(history) // 200)
    window = sum(1 for s in history if s.ts >= newest - LATE_SCROBBLE_WINDOW)
    # the page counts follow the pinned date (BREAKOUT_TEST_NOW); at the default: 7 of 64
    assert len(first_sync) == -(-window // 200) and 5 * len(first_sync) < all_pages
    assert all("from" not in r.params for r in full) and len(full) == all_pages
    stored = await sql(data_dir, "SELECT COUNT(*) FROM scrobbles")
    assert stored == [(len(lastfm.expected_keys()),)]
    assert await sql(data_dir, "SELECT 1 FROM track_record_cache WHERE kind = 'backtest'")


async def test_listenbrainz_after_an_import_stops_at_the_newest_imported(db: Database) -> None:
    listens = make_listens(6000, newest_ts=1_700_000_000, spacing=3600)
    cut = 1_700_000_000 - 5 * 86_400
    imported = pd.DataFrame(
        [(x.ts, x.artist, x.track, x.album) for x in listens if x.ts < cut],
        columns=["ts", "artist", "track", "album"],
    )
    async with db.sessions() as session, session.begin():
        await store_scrobbles(session, imported)
    fast = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
    with FakeListenBrainz(listens) as server:
        async with httpx.AsyncClient() as http:
            client = ListenBrainzClient(http, server.url, None, 1000.0, retry=fast, timeout=1)
            now = 1_700_003_600
            first = await sync_listens(db.sessions, client, "rj", clock=lambda: now)
            after_import = len(server.listens_requests)
            full = await sync_listens(db.sessions, client, "rj", full=True, clock=lambda: now)
    assert first.done and first.mode == "incremental" and after_import == 1
    assert first.new == sum(1 for x in listens if x.ts >= cut)
    assert full.done and full.pages >= 6 and full.fetched >= 6000 and full.new == 0


@pytest.mark.slow  # a backfill end to end
async def test_progress_reaches_an_owner_who_writes_mid_backfill(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "ONBOARDING_EVERY", 0.2)
    fake.known_chats.discard(OWNER)  # the owner has never written to the bot
    data_dir = tmp_path / "fresh"
    with FakeLastfm(lastfm_scrobbles(6, (NOW - timedelta(days=1)).timestamp())) as lastfm:
        lastfm.inject("hold", page=3)
        async with running(lastfm_settings(fake, data_dir, lastfm), Clock(NOW), schedule=True):
            await asyncio.to_thread(lastfm.wait_for_request, lambda r: r.page == 3)
            refused = await fake.wait_for("sendMessage", ok=False)
            assert "📥 Reading your Last.fm history" in refused.params["text"]
            start = fake.mark()
            fake.send_text(OWNER, "hello")
            shown = await fake.wait_for(
                "sendMessage", start=start, where=lambda c: c.params["text"].startswith("📥")
            )
            lastfm.release()
            finished = await fake.wait_for(
                "editMessageText",
                start=start,
                where=lambda c: c.params["text"].endswith("✅ done"),
                within=30,
            )
            done = await fake.wait_for(
                "sendMessage",
                start=start,
                where=lambda c: c.params["text"].startswith("✅ Your history is in"),
                within=60,
            )
    assert finished.params["message_id"] == str(shown.result["message_id"])
    assert "<b>Breakout candidates</b>" in done.params["text"] and keyboard(done)


def record(hits: int, misses: int, base: float, source: str = "live") -> TrackRecord:
    decided = hits + misses
    rate = hits / decided if decided else None
    bands = [Band(0.0, 0.05, 100, 0.03, base)]
    return TrackRecord(
        source, "2025-01", "2026-10", 500, decided + 1, hits, misses, 1, rate, base, bands
    )


@pytest.mark.parametrize(
    ("hits", "misses", "base", "sentence"),
    [
        (
            10,
            90,
            0.05,
            "My flags came true 10% of the time (10 of 100); any new artist of yours, 5%. "
            "About twice chance — most flags still don't pan out.",
        ),
        (
            6,
            94,
            0.05,
            "My flags came true 6% of the time (6 of 100); any new artist of yours, 5%. "
            "About chance — don't read much into a flag.",
        ),
        (
            30,
            70,
            0.05,
            "My flags came true 30% of the time (30 of 100); any new artist of yours, 5%. "
            "Several times chance — most flags still don't pan out.",
        ),
        (
            2,
            1,
            0.05,
            "Too early to judge: only 3 of my flags have resolved so far, and 2 came true.",
        ),
        (
            0,
            0,
            0.05,
            "Too early to judge: none of my flags has resolved yet (an artist gets "
            "two months after the one I flagged it for).",
        ),
    ],
)
def test_verdict_sentence_by_lift(hits: int, misses: int, base: float, sentence: str) -> None:
    assert verdict_sentence(record(hits, misses, base)) == sentence


def test_verdict_says_when_few_flags_resolved() -> None:
    assert verdict_sentence(record(3, 6, 0.08)) == (
        "My flags came true 33% of the time (3 of 9); any new artist of yours, 8%. "
        "Several times chance — most flags still don't pan out, and 9 resolved flags are few "
        "to go by."
    )


def test_verdict_without_flags_and_for_a_backtest() -> None:
    none = TrackRecord("backtest", "2025-01", "2026-10", 500, 0, 0, 0, 0, None, 0.04)
    assert verdict_sentence(none) == (
        "I have not flagged any artist yet. Any new artist of yours became core 4% of the time."
    )
    replay = verdict_sentence(record(10, 90, 0.05, "backtest"))
    assert replay.startswith(
        "Replaying your history, my flags would have come true 10% of the time (10 of 100)"
    )


async def test_an_artist_name_alone_opens_its_card(fake: FakeTelegram, data_dir: Path) -> None:
    (name,) = (
        await sql(
            data_dir,
            "SELECT a.name FROM candidates c JOIN artists a ON "
            "a.id = c.artist_id ORDER BY c.run_id DESC, c.rank LIMIT 1",
        )
    )[0]
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        start = fake.mark()
        fake.send_text(OWNER, name.upper())
        photo = await fake.wait_for("sendPhoto", start=start)
        card = await fake.wait_for("sendMessage", start=start)
        chatter = await ask(fake, "good morning, bot")
    assert photo.files["photo"].startswith(b"\x89PNG")
    text = card.params["text"]
    link = f'<a href="https://www.last.fm/music/{quote(name, safe="").replace("%20", "+")}">'
    assert link in text and "✅ Confirm if you think" in text
    assert (
        chatter.params["text"].startswith("I did not understand “good morning, bot”")
        or "Did you mean" in chatter.params["text"]
    )


def test_one_in_n_always_shows_the_same_percentage() -> None:
    probabilities = np.linspace(0.011, 0.449, 20_000)
    shown = pd.DataFrame(
        {"odds": [odds(p) for p in probabilities], "pct": [odds_percent(p) for p in probabilities]}
    )
    assert (shown.groupby("odds")["pct"].nunique() == 1).all()
    assert odds_sentence(0.0345).endswith("(3%)") and odds_sentence(0.0355).endswith("(4%)")
    assert odds(0.0345) == odds(0.035) == "about 1 in 29" and odds_percent(0.035) == "3%"


@pytest.mark.slow  # a bot session end to end
async def test_a_new_users_first_session(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Import, start, /candidates, a card, /record: the transcript and charts are kept
    (BREAKOUT_TEST_ARTIFACTS) for a person to read."""
    out = artifacts(tmp_path)
    data_dir = tmp_path / "new-user"
    history = lastfm_scrobbles(24, (NOW - timedelta(days=1)).timestamp())
    cut = int((NOW - timedelta(days=3)).timestamp())
    with FakeLastfm(history) as lastfm:
        settings = lastfm_settings(fake, data_dir, lastfm)
        monkeypatch.setenv("DATABASE_URL", settings.DATABASE_URL)
        await import_older(history, cut, tmp_path / "export.csv")
        async with running(settings, Clock(NOW), schedule=True) as app:
            await fake.wait_for(
                "sendMessage",
                where=lambda c: c.params["text"].startswith("✅ Your history is in"),
                within=120,
            )
            await idle(app, within=180)
            listing = await ask(fake, "/candidates")
            start = fake.mark()
            fake.press(OWNER, listing.result, keyboard(listing)[0][0]["callback_data"])
            card_chart = await fake.wait_for("sendPhoto", start=start)
            await fake.wait_for("sendMessage", start=start)
            start = fake.mark()
            record_text = await ask(fake, "/record")
            record_chart = await fake.wait_for("sendPhoto", start=start)
    (out / "new_user_card.png").write_bytes(card_chart.files["photo"])
    (out / "new_user_record.png").write_bytes(record_chart.files["photo"])
    session = transcript(fake)
    (out / "new_user_transcript.txt").write_text(session, encoding="utf-8")
    assert "📥 Read your Last.fm history" in session and "✅ done" in session
    assert record_text.params["text"].startswith("<b>") and "A replay" in record_text.params["text"]
    assert not re.search(r"\bpid\b|monthly_push|\d{4}-\d\d-\d\dT|\(\d{4}-\d\d\)", session)


def test_charts_are_phone_sized_with_no_text_under_14_px(tmp_path: Path) -> None:
    days = [NOW - timedelta(days=n) for n in range(59, -1, -1)]
    plays = [(n * 7) % 4 for n in range(60)]
    card = charts.daily_plays_png(days, plays, "$A & B$", 8, {"2026-10": 9, "2026-11": 8})
    bands = [Band(0.0, 0.05, 900, 0.02, 0.03), Band(0.05, 0.1, 120, 0.07, 0.06)]
    months = [MonthOutcomes("2026-01", 1, 3, 0), MonthOutcomes("2026-10", 0, 0, 2)]
    track = TrackRecord(
        "live", "2026-01", "2026-10", 1020, 6, 1, 3, 2, 0.25, 0.04, bands, [], months
    )
    shown = charts.record_png(track)
    assert shown is not None and charts.record_png(record(0, 0, 0.05)) is not None
    assert charts.record_png(TrackRecord("none", None, None, 0, 0, 0, 0, 0, None, None)) is None
    for png in (card, shown):
        width = int.from_bytes(png[16:20], "big")  # the PNG header's IHDR width
        assert png.startswith(b"\x89PNG") and width == 800
    smallest = min(charts.SMALL, charts.TEXT, charts.BIG) * charts.DPI / 72
    assert smallest >= 14


def test_the_odds_chart_never_marks_a_share_above_100_percent() -> None:
    # a band where every artist became core draws its bar at 100 %, and the axis is drawn to
    # 160 % to leave room for the legend: the ticks stop at 100
    assert max(charts.percent_ticks(160.0)) == 100
    assert len(charts.percent_ticks(4.8)) >= 3 and max(charts.percent_ticks(4.8)) <= 4.8


def test_eta_follows_the_pages_this_run_read() -> None:
    now = [100.0]
    progress = SyncProgress(running=True, mode="backfill", monotonic=lambda: now[0])
    progress.page_done(400, 513, 0)  # a walk resumed at page 400 after a restart
    assert progress.seconds_left() is None  # no pace yet from one page
    for page in range(401, 411):
        now[0] += 0.5  # two pages a second
        progress.page_done(page, 513, 0)
    assert progress.seconds_left() == pytest.approx(103 * 0.5)
    assert in_words(progress.seconds_left() or 0) == "under a minute"
    for page in range(411, 441):
        now[0] += 2.0  # Last.fm slowed down: the ETA follows the last pages
        progress.page_done(page, 513, 0)
    assert progress.seconds_left() == pytest.approx(73 * 2.0)
