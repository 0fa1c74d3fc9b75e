"""One list, honest emphasis and a list that follows every sync, through the real PTB application
against the strict fake Bot API (and the fake Last.fm for the sync)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.render import render_candidates, render_moment
from bot.services.moments import Moment
from bot.services.queries import CandidateView, RunView
from bot.telegram import jobs
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
from tests.fakes.lastfm_server import FakeLastfm, FakeScrobble
from tests.fakes.telegram_server import Call, FakeTelegram

LINE = re.compile(r"^(\d+)\. (★ )?<b>(.+?)</b> — (.+) \((<1|\d+)%\)$", re.M)


def listed(call: Call) -> list[tuple[int, bool, str, int]]:
    """(place, starred, name, percent) of each artist line of a list message."""
    return [
        (int(n), bool(star), name, 0 if pct == "<1" else int(pct))
        for n, star, name, _, pct in LINE.findall(call.params["text"])
    ]


async def press(fake: FakeTelegram, message: dict, data: str, method: str) -> Call:
    start = fake.mark()
    fake.press(OWNER, message, data)
    return await fake.wait_for(method, start=start)


async def pages(fake: FakeTelegram) -> list[Call]:
    """/candidates and every page after it through "more ▶"."""
    shown = [await ask(fake, "/candidates")]
    while (rows := keyboard(shown[-1])) and rows[-1][-1]["text"] == "more ▶":
        data = rows[-1][-1]["callback_data"]
        shown.append(await press(fake, shown[0].result, data, "editMessageText"))
    return shown


async def test_one_list_by_the_odds_shown_and_the_push_agrees(
    fake: FakeTelegram, data_dir: Path
) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        shown = await pages(fake)
        assert len(shown) >= 2, "the seeded history lists more than one page"
        lines = [line for page in shown for line in listed(page)]
        assert [n for n, *_ in lines] == list(range(1, len(lines) + 1))
        percents = [p for *_, p in lines]
        assert percents == sorted(percents, reverse=True), percents
        names = [name for _, _, name, _ in lines]
        assert len(set(names)) == len(names), "each artist once"
        total = int(re.search(r"of (\d+)", shown[0].params["text"]).group(1))
        assert len(lines) == total
        # Starred artists come first and are exactly what the monthly push picks.
        stars = [name for _, star, name, _ in lines if star]
        assert stars == names[: len(stars)]
        assert (await jobs.monthly_push(app)).startswith("pushed")
        push = fake.calls_of("sendMessage")[-1]
        picked = [name for _, _, name, _ in listed(push)]
        assert picked == stars[: len(picked)]
        if not stars:
            assert "No new artist stands out right now" in push.params["text"]
        footnote = shown[0].params["text"].splitlines()[-2 if stars else -1]
        first_odds = LINE.search(shown[0].params["text"]).group(4)
        assert f"{first_odds} became one of your core artists" in footnote
    print(transcript(fake))


async def test_nobody_standing_out_is_said_first(fake: FakeTelegram, data_dir: Path) -> None:
    await sql(data_dir, "UPDATE candidates SET above_threshold = 0")
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        listing = await ask(fake, "/candidates")
        second = listing.params["text"].splitlines()[1]
        assert re.fullmatch(
            r"No new artist stands out right now: any new artist of yours becomes core about "
            r"1 time in \d+\. These are the new artists I'm watching:",
            second,
        ), second
        assert "★" not in listing.params["text"] and listed(listing)
        assert (await jobs.monthly_push(app)).startswith("pushed")
        push = fake.calls_of("sendMessage")[-1].params["text"]
        assert "No new artist stands out right now: any new artist of yours" in push
        assert not keyboard(fake.calls_of("sendMessage")[-1])
    print(transcript(fake))


async def top_candidate(data_dir: Path) -> tuple[int, str]:
    rows = await sql(
        data_dir,
        "SELECT a.id, a.name FROM candidates c JOIN artists a ON a.id = c.artist_id "
        "WHERE c.run_id = (SELECT MAX(id) FROM model_runs) AND c.rank = 1",
    )
    return rows[0]


async def test_a_sync_that_makes_a_candidate_core_updates_its_card_and_says_so_once(
    fake: FakeTelegram, data_dir: Path
) -> None:
    artist_id, name = await top_candidate(data_dir)
    runs_before = await sql(data_dir, "SELECT COUNT(*), MAX(trained_at) FROM model_runs")
    model = (data_dir / "models" / "model.json").read_bytes()
    first = int((SEEDED_AT - timedelta(hours=3)).timestamp())
    plays = [FakeScrobble(first + 60 * i, name, f"Song {i % 5}", "Live") for i in range(25)]
    synced = int((SEEDED_AT - timedelta(days=1)).timestamp())
    await sql(
        data_dir,
        "INSERT INTO sync_state (username, backfill_done, synced_to, high_water_ts) "
        "VALUES ('rj', 1, :t, :t)",
        t=synced,
    )
    with FakeLastfm(plays) as lastfm:
        settings = lastfm_settings(fake, data_dir, lastfm)
        async with running(settings, Clock(SEEDED_AT + timedelta(minutes=5))) as app:
            start = fake.mark()
            fake.send_text(OWNER, "/sync")
            moment = await fake.wait_for(
                "sendMessage", start=start, where=lambda c: "🎉" in c.params["text"]
            )
            await idle(app)
            card = await ask(fake, f"/why {name}")
            await jobs.sync_job(app)  # nothing new: no second moment
            await idle(app)
    text = moment.params["text"]
    assert "just became one of your core artists — " in text and "It was #1 on your list — " in text
    assert "didn't see this one coming" not in text
    assert len([c for c in fake.calls_of("sendMessage") if "🎉" in c.params["text"]]) == 1
    assert "Core this month already" in card.params["text"]
    assert not re.search(r"artists like this (became|become) core", card.params["text"])
    assert "What holds it back" not in card.params["text"]
    # Rescored with the stored model: one new run per sync that stored plays, nothing trained.
    runs_after = await sql(data_dir, "SELECT COUNT(*), MAX(trained_at) FROM model_runs")
    assert runs_after == [(runs_before[0][0] + 1, runs_before[0][1])]
    assert (data_dir / "models" / "model.json").read_bytes() == model
    listed_now = await sql(
        data_dir,
        "SELECT rank FROM candidates WHERE artist_id = :a AND run_id = (SELECT MAX(id) "
        "FROM model_runs)",
        a=artist_id,
    )
    assert all(rank == 0 for (rank,) in listed_now), "a core artist is not a candidate"
    print(transcript(fake))


async def test_push_of_a_month_not_scored_rescores_without_training(
    fake: FakeTelegram, data_dir: Path
) -> None:
    model = (data_dir / "models" / "model.json").read_bytes()
    before = await sql(data_dir, "SELECT COUNT(*), MAX(trained_at) FROM model_runs")
    clock = Clock(datetime(2026, 12, 1, 9, 30, tzinfo=UTC))  # November's push; not scored yet
    async with running(bot_settings(fake, data_dir), clock) as app:
        assert (await jobs.monthly_push(app)).startswith("pushed")
    after = await sql(
        data_dir, "SELECT COUNT(*), MAX(trained_at), MAX(scored_month) FROM model_runs"
    )
    assert after == [(before[0][0] + 1, before[0][1], "2026-11")]
    assert (data_dir / "models" / "model.json").read_bytes() == model
    push = fake.calls_of("sendMessage")[-1].params["text"]
    assert push.startswith("📬 <b>November 2026</b> has closed.")


@pytest.mark.slow  # a backfill and a rebuild end to end
async def test_first_backfill_rebuilds_once(fake: FakeTelegram, tmp_path: Path) -> None:
    from tests.test_bot_jobs import lastfm_scrobbles

    data_dir = tmp_path / "fresh"
    now = SEEDED_AT
    with FakeLastfm(lastfm_scrobbles(12, (now - timedelta(days=1)).timestamp())) as lastfm:
        settings = lastfm_settings(fake, data_dir, lastfm)
        async with running(settings, Clock(now)) as app:
            await jobs.sync_job(app)
            await idle(app)
            await asyncio.sleep(0)
    runs = await sql(data_dir, "SELECT COUNT(*) FROM model_runs")
    assert runs == [(1,)], "the first backfill is rebuilt once"
    done = [c for c in fake.calls_of("sendMessage") if "Your history is in" in c.params["text"]]
    assert len(done) == 1
    cached = await sql(data_dir, "SELECT kind FROM track_record_cache ORDER BY kind")
    assert cached == [("backtest",), ("live",)]  # the live one: what /record and /status read


def _run(status: str = "model", **metrics: object) -> RunView:
    return RunView(
        id=1,
        created_at=SEEDED_AT,
        status=status,
        message="",
        model_name="blend" if status == "model" else None,
        threshold=0.1 if status == "model" else None,
        scored_month="2026-10",
        metrics_json=json.dumps({"base_rate": 0.05, **metrics}),
        trained_at=None,
    )


def _cand(rank: int, probability: float, reasons: list[str]) -> CandidateView:
    return CandidateView(
        candidate_id=rank,
        artist_id=100 + rank,
        artist=f"Artist {rank}",
        month="2026-11",
        window="trailing",
        probability=probability,
        rank=rank,
        above_threshold=probability >= 0.1,
        first_seen=SEEDED_AT,
        plays=5,
        reasons=reasons,
        concerns=["held back"],
    )


def test_the_words_match_what_is_shown() -> None:
    cands = [_cand(1, 0.2, ["9 plays in the last 14 days"]), _cand(2, 0.06, [])]
    text = render_candidates(cands, _run(), html=False)
    first, reason, watching, second = text.splitlines()[1:5]
    assert first == "1. ★ Artist 1 — about 1 in 5 (20%)" and reason.strip() == cands[0].reasons[0]
    assert watching == "Also watching:" and second.startswith("2. Artist 2 — about 1 in 17")
    assert "held back" not in text  # a drag is never shown as the reason
    assert "“About 1 in 5”: of past new artists that looked like this one, about 1 in 5" in text
    star = (
        "★ clearly more likely than usual (any new artist of yours becomes core about 1 time in 20)"
    )
    assert star in text
    fallback = render_candidates(cands, _run("fallback"), html=False)
    assert "“About" not in fallback and "★" not in fallback and "%" not in fallback
    quiet = render_candidates(cands[1:], _run(), html=False)
    assert quiet.splitlines()[1].startswith("No new artist stands out right now: any new artist")
    assert "★" not in quiet
    others = render_candidates(cands, _run(evidence={"source": "prior"}), html=False)
    assert "mostly from how listeners like you behave" in others


def test_a_moment_says_whether_it_was_on_the_list() -> None:
    seen = Moment(1, "Artist 1", "2026-11", 25, 0.2, None, listed=(1, 0.045))
    assert "It was #1 on your list — about 1 in 22." in render_moment(seen)
    missed = Moment(2, "Artist 2", "2026-11", 25, None, None)
    assert render_moment(missed).endswith("I didn't see this one coming.")
    low = Moment(3, "Artist 3", "2026-11", 1, 0.01, None)
    assert "— 1 play this month. I didn't see this one coming (I gave it" in render_moment(low)
