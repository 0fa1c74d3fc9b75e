"""The artist card shows the artist's tags and listeners from Last.fm (a strict fake), cached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bot_harness import (
    OWNER,
    SEEDED_AT,
    Clock,
    ask,
    keyboard,
    lastfm_settings,
    running,
)
from tests.fakes.lastfm_server import FakeArtist, FakeLastfm
from tests.fakes.telegram_server import Call, FakeTelegram


async def open_card(fake: FakeTelegram, listing: Call, data: str) -> Call:
    """Press a card button of the list; the card's text message (sent after its chart)."""
    start = fake.mark()
    fake.press(OWNER, listing.result, data)
    await fake.wait_for("sendPhoto", start=start)
    return await fake.wait_for("sendMessage", start=start)


def artist_calls(lastfm: FakeLastfm) -> int:
    return sum(r.params.get("method", "").startswith("artist.") for r in lastfm.requests)


@pytest.mark.slow
async def test_card_shows_tags_from_lastfm_and_caches_them(
    fake: FakeTelegram, data_dir: Path
) -> None:
    with FakeLastfm([]) as lastfm:
        settings = lastfm_settings(fake, data_dir, lastfm)
        async with running(settings, Clock(SEEDED_AT)):
            listing = await ask(fake, "/candidates")
            rows = keyboard(listing)
            first, second = (rows[i][0] for i in (0, 1))
            name = first["text"].split(". ", 1)[1]
            lastfm.add_artist(FakeArtist(name, ("shoegaze", "dream pop"), 41_873))

            card = await open_card(fake, listing, first["callback_data"])
            assert "shoegaze · dream pop · 41k listeners" in card.params["text"]
            asked = artist_calls(lastfm)
            assert asked >= 1

            again = await open_card(fake, listing, first["callback_data"])
            assert "shoegaze · dream pop · 41k listeners" in again.params["text"]
            assert artist_calls(lastfm) == asked, "a fresh cached entry is not asked again"

            unknown = await open_card(fake, listing, second["callback_data"])
            # Last.fm knows nothing of it: no metadata line ("… · 41k listeners")
            assert not re.search(r"\d+k? listeners", unknown.params["text"])
