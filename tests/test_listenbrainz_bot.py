"""The bot with LISTENS_SOURCE=listenbrainz: /sync, /start and scheduled syncs use ListenBrainz."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.telegram import jobs, messages
from tests.bot_harness import OWNER, SEEDED_AT, Clock, ask, bot_settings, idle, running, sql
from tests.fakes.listenbrainz_server import FakeListenBrainz, make_listens
from tests.fakes.telegram_server import FakeTelegram


@pytest.mark.slow
async def test_manual_and_scheduled_syncs_read_listenbrainz(
    fake: FakeTelegram, data_dir: Path
) -> None:
    listens = make_listens(1500, newest_ts=int(SEEDED_AT.timestamp()) - 600, per_second=2)
    before = (await sql(data_dir, "SELECT COUNT(*) FROM scrobbles"))[0][0]
    with FakeListenBrainz(listens) as lb:
        settings = bot_settings(
            fake,
            data_dir,
            LISTENS_SOURCE="listenbrainz",
            LISTENBRAINZ_USERNAME="rj",
            LISTENBRAINZ_API_URL=lb.url,
            LISTENBRAINZ_REQUESTS_PER_SECOND=1000,
        )
        async with running(settings, Clock(SEEDED_AT)) as app:
            first = await ask(fake, "/start")
            assert "I have not read your whole ListenBrainz history yet" in (first.params["text"])
            start = fake.mark()
            fake.send_text(OWNER, "/sync")
            await fake.wait_for(
                "sendMessage",
                start=start,
                where=lambda c: c.params["text"] == "Syncing with ListenBrainz…",
            )
            done = await fake.wait_for(
                "sendMessage",
                start=start,
                where=lambda c: "Synced with ListenBrainz" in c.params["text"],
            )
            assert done.params["text"].endswith(" read, 1,500 new.")
            await idle(app)
            status = await ask(fake, "/start")
            assert (
                "Last sync: " in status.params["text"] and "(ListenBrainz)" in status.params["text"]
            )
            seen = len(lb.listens_requests)
            await jobs.sync_job(app)
            assert len(lb.listens_requests) > seen
    assert messages.SYNC_STARTED.format(source="ListenBrainz") == "Syncing with ListenBrainz…"
    after = (await sql(data_dir, "SELECT COUNT(*) FROM scrobbles"))[0][0]
    assert after == before + 1500
    runs = await sql(data_dir, "SELECT detail FROM job_runs WHERE job = 'sync' ORDER BY id")
    assert "incremental sync of rj on ListenBrainz complete" in runs[-1][0]
