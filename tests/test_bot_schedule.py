"""Push timing in every time zone, breakout moments once, pushes Telegram did not deliver."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.services import push
from bot.telegram import jobs
from bot.telegram.state import get_state
from pipeline.normalize import artist_key
from tests.bot_harness import (
    OWNER,
    SEEDED_AT,
    Clock,
    ask,
    bot_settings,
    flag_top,
    idle,
    keyboard,
    running,
    sql,
)
from tests.fakes.telegram_server import FakeTelegram

PUSH_DAY = datetime(2026, 11, 5, 10, 0, tzinfo=ZoneInfo("UTC"))


def zone(offset: int) -> str:
    """The fixed-offset zone UTC+offset (POSIX signs: Etc/GMT-14 is UTC+14)."""
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


async def score_as(data_dir: Path, month: str) -> None:
    """Make the stored rebuild one that scored `month` (what the nightly run does)."""
    await sql(data_dir, "UPDATE model_runs SET scored_month = :m", m=month)
    await sql(data_dir, "UPDATE candidates SET month = :m WHERE window = 'month'", m=month)


@pytest.mark.slow
async def test_push_arrives_on_the_first_in_every_time_zone(
    fake: FakeTelegram, data_dir: Path
) -> None:
    await score_as(data_dir, "2026-11")
    await flag_top(data_dir, 3)
    settings = bot_settings(fake, data_dir, BREAKOUT_PUSH_MAX=3)
    clock = Clock(SEEDED_AT)
    async with running(settings, clock) as app:
        rt = get_state(app)
        for offset in range(-11, 15):
            tz = ZoneInfo(zone(offset))
            rt.settings = settings.model_copy(update={"BREAKOUT_TIMEZONE": zone(offset)})
            await sql(data_dir, "DELETE FROM job_runs")
            clock.at = datetime(2026, 11, 30, 23, 59, tzinfo=tz)
            assert push.due_month(rt) == "2026-10", offset
            clock.at = datetime(2026, 12, 1, 8, 59, tzinfo=tz)
            assert push.due_month(rt) == "2026-10", offset
            clock.at = datetime(2026, 12, 1, 9, 0, tzinfo=tz)
            start = fake.mark()
            assert (await jobs.monthly_push(app)).startswith("pushed"), offset
            sent = await fake.wait_for("sendMessage", start=start)
            assert sent.params["text"].startswith("📬 <b>November 2026</b> has closed."), offset
            assert 1 <= len(keyboard(sent)) <= 3
            assert await jobs.monthly_push(app) == push.ALREADY
    assert await sql(data_dir, "SELECT COUNT(*) FROM model_runs") == [(1,)]  # none waited


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Pacific/Pago_Pago", "Asia/Kolkata", "Pacific/Kiritimati"])
async def test_a_month_not_scored_yet_is_scored_at_push_time(
    fake: FakeTelegram, data_dir: Path, name: str
) -> None:
    # The nightly run has not scored November (UTC-11, UTC+5:30, UTC+14): the push does.
    tz = ZoneInfo(name)
    settings = bot_settings(fake, data_dir, BREAKOUT_TIMEZONE=name)
    async with running(settings, Clock(datetime(2026, 12, 1, 9, 0, tzinfo=tz))) as app:
        outcome = await jobs.monthly_push(app)
    assert outcome.startswith("pushed")
    months = await sql(data_dir, "SELECT scored_month FROM model_runs ORDER BY id")
    assert months[-1] == ("2026-11",)
    pushed = [c for c in fake.calls_of("sendMessage") if "has closed" in c.params["text"]]
    assert pushed[0].params["text"].startswith("📬 <b>November 2026</b> has closed.")


async def seen_breaking_out(data_dir: Path, n: int = 2) -> list[int]:
    """What a rebuild records when artists become core for the first time: `n` breakouts."""
    ids = [
        a for (a,) in await sql(data_dir, "SELECT id FROM artists ORDER BY id DESC LIMIT :n", n=n)
    ]
    for artist_id in ids:
        await sql(
            data_dir,
            "INSERT OR REPLACE INTO breakouts (artist_id, month, plays, detected_at, historical) "
            "VALUES (:a, '2026-11', 13, :at, 0)",
            a=artist_id,
            at=SEEDED_AT.replace(tzinfo=None, hour=3),
        )
    return ids


async def test_breakout_moment_is_sent_once_across_restarts(
    fake: FakeTelegram, data_dir: Path
) -> None:
    def moments() -> list[str]:
        return [c.params["text"] for c in fake.calls_of("sendMessage") if "🎉" in c.params["text"]]

    await seen_breaking_out(data_dir)
    settings = bot_settings(fake, data_dir)
    async with running(settings, Clock(SEEDED_AT)) as app:
        first = await jobs.announce_moments(app)
        assert first == 2
        assert await jobs.announce_moments(app) == 0
    sent = moments()
    assert len(sent) == 2 and "just became one of your core artists — 13 plays" in sent[0]
    assert "I didn't see this one coming" in sent[0] or "I flagged it on" in sent[0]
    async with running(settings, Clock(SEEDED_AT)) as app:
        assert await jobs.announce_moments(app) == 0
    assert moments() == sent
    rows = await sql(data_dir, "SELECT outcome, COUNT(*) FROM breakout_moments GROUP BY outcome")
    assert rows == [("sent", first)]


async def test_moments_turned_off_are_recorded_silently(fake: FakeTelegram, data_dir: Path) -> None:
    await seen_breaking_out(data_dir)
    await sql(
        data_dir,
        "INSERT INTO bot_settings (key, value, updated_at) VALUES ('moments', '0', '2026-11-01')",
    )
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        assert await jobs.announce_moments(app) == 0
    assert not [c for c in fake.calls_of("sendMessage") if "🎉" in c.params["text"]]
    assert (await sql(data_dir, "SELECT DISTINCT outcome FROM breakout_moments")) == [("muted",)]


@pytest.mark.slow
async def test_undelivered_push_comes_after_the_owners_first_message(data_dir: Path) -> None:
    fresh = FakeTelegram().start()  # the owner has never written: "chat not found"
    try:
        async with running(bot_settings(fresh, data_dir), Clock(PUSH_DAY)) as app:
            await jobs.catch_up(app)  # "chat not found": one INFO line, no exception
            runs = await sql(data_dir, "SELECT outcome FROM job_runs WHERE job = 'monthly_push'")
            assert runs == [("undelivered",)]
            start = fresh.mark()
            fresh.send_text(OWNER, "/start")
            pushed = await fresh.wait_for(
                "sendMessage", start=start, where=lambda c: "has closed" in c.params["text"]
            )
            assert pushed.params["text"].startswith("📬 <b>October 2026</b> has closed.")
            await idle(app)  # the push closes its job run right after the send
            runs = await sql(data_dir, "SELECT outcome FROM job_runs WHERE job = 'monthly_push'")
            assert runs == [("ok",)]
            await ask(fresh, "/help")
        assert (
            len([c for c in fresh.calls_of("sendMessage") if "has closed" in c.params["text"]]) == 1
        )
    finally:
        fresh.stop()


async def test_push_follows_the_settings(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(PUSH_DAY)) as app:
        settings = await ask(fake, "/settings")
        for data in ("st:size", "st:size", "st:push"):  # 5 -> 10 -> 3 artists, push off
            start = fake.mark()
            fake.press(OWNER, settings.result, data)
            edit = await fake.wait_for("editMessageReplyMarkup", start=start)
        labels = [b["text"] for row in keyboard(edit) for b in row]
        assert labels[:2] == ["Monthly push: off", "Push size: 3 artists"]
        assert await jobs.monthly_push(app) == push.OFF
        await sql(data_dir, "UPDATE bot_settings SET value = '1' WHERE key = 'push'")
        assert (await jobs.monthly_push(app)).startswith("pushed")
    pushed = [c for c in fake.calls_of("sendMessage") if "has closed" in c.params["text"]]
    assert len(pushed) == 1 and len(keyboard(pushed[0])) <= 3


async def test_empty_list_says_why_and_what_is_watched(fake: FakeTelegram, data_dir: Path) -> None:
    await sql(data_dir, "DELETE FROM candidates")
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        reply = await ask(fake, "/candidates")
    text = reply.params["text"]
    assert text.startswith("<b>Breakout candidates</b>\nNobody right now: ")
    assert "Watching (new, below the bar)" in text


async def test_weekly_digest_only_when_turned_on(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        assert await jobs.weekly_digest(app) == "turned off"
        await sql(
            data_dir,
            "INSERT INTO bot_settings (key, value, updated_at) "
            "VALUES ('digest', '1', '2026-11-01')",
        )
        assert await jobs.weekly_digest(app) == "sent"
        assert await jobs.weekly_digest(app) == "already sent"  # once per ISO week
    digests = [
        c.params["text"] for c in fake.calls_of("sendMessage") if "Your week" in c.params["text"]
    ]
    assert len(digests) == 1
    assert "New discoveries: " in digests[0] and "Rising: <b>" in digests[0]


async def test_huge_names_fit_messages_and_captions(fake: FakeTelegram, data_dir: Path) -> None:
    name = "Ωmega " * 700  # 4,200 characters
    await sql(
        data_dir, "INSERT INTO artists (key, name) VALUES (:k, :n)", k=artist_key(name), n=name
    )
    await sql(
        data_dir,
        "INSERT INTO scrobbles (ts, artist_id, artist_name, track, album) "
        "SELECT :ts, id, name, 't', '' FROM artists WHERE name = :n",
        ts=int(SEEDED_AT.timestamp()) - 3600,
        n=name,
    )
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        start = fake.mark()
        fake.send_text(OWNER, f"/why {name}")
        photo = await fake.wait_for("sendPhoto", start=start)
        card = await fake.wait_for("sendMessage", start=start)
    assert "…" in photo.params["caption"] and "…" in card.params["text"]
    assert not fake.calls_of("sendPhoto", ok=False) and not fake.calls_of("sendMessage", ok=False)
