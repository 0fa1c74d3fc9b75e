"""Every history shape, end to end: import → rebuild → candidates / why / record / status → a bot
card → the API. Each ends in results or one plain line saying why nothing can be scored."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from bot.cli import main
from bot.config import Settings
from bot.timeutil import set_clock
from pipeline.periods import add_months, month_of
from tests.api_harness import serving
from tests.bot_harness import DB_NAME, Clock, ask, bot_settings, fake, running, sql
from tests.conftest import SUITE_NOW
from tests.fakes.telegram_server import FakeTelegram
from tests.shapes import Shape, all_shapes, write_ghan

__all__ = ["fake"]  # fixtures

SHAPES = all_shapes(SUITE_NOW)  # the shapes without a clock of their own end at the suite's
NAMES = [
    "old_export",
    "back_after_7_months",
    "back_after_23_months",
    "nothing_this_month",
    "only_1_month",
    "only_2_months",
    "one_artist",
    "500_on_one_second",
    "first_of_month_0000",
    "dst_spring_berlin",
    "dst_autumn_berlin",
    "leap_day_utc_plus_14",
    "year_end_utc_plus_14",
    "100k_artists",
]
# The fast subset keeps a short, a one-artist and a nothing-to-score history; the clock shapes
# there are test_pinned_dates.py's.
FAST = {"only_1_month", "only_2_months", "one_artist", "nothing_this_month"}
SLOW = set(NAMES) - FAST
NOTHING_TO_SCORE = re.compile(r"Your last scrobble was \d{1,2} \w{3} \d{4}: nothing new to score")


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run one `breakout` command in process (its own thread and loop); it must succeed
    without a traceback."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    assert code == 0, f"breakout {' '.join(argv)} exited {code}: {err}"
    assert "Traceback" not in out + err
    return out


def listed(text: str) -> list[str]:
    """Artist names of a plain candidates list ("1. Name — odds")."""
    return [m.group(1) for m in re.finditer(r"^\d+\. (?:★ )?(.+?)(?: — .*)?$", text, re.MULTILINE)]


def _settings(fake: FakeTelegram, data: Path, shape: Shape) -> Settings:
    return bot_settings(fake, data, BREAKOUT_TIMEZONE=shape.tz)


async def _bot_card(fake: FakeTelegram, settings: Settings, shape: Shape, artist: str) -> None:
    """/candidates and /why in the real PTB application, on the shape's clock."""
    async with running(settings, Clock(shape.now)):
        listing = (await ask(fake, "/candidates")).params["text"]
        card = (await ask(fake, f"/why {artist}")).params["text"]
    assert "Breakout candidates" in listing
    if not shape.scorable:
        assert NOTHING_TO_SCORE.search(listing), listing
    assert artist.split()[0].replace("&", "&amp;") in card, card
    assert not [c for c in fake.calls if not c.ok], "the fake Bot API refused a call"


def _api(settings: Settings, artist: str, shape: Shape) -> None:
    slashed = sorted({a for a in shape.scrobbles["artist"] if "/" in a})[:1]  # "AC/DC <3 Fans"
    with serving(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        listing = client.get("/candidates")
        card = client.get(f"/artists/{quote(artist, safe='')}")
        for name in slashed:
            found = client.get(f"/artists/{quote(name, safe='')}")
            assert found.status_code == 200 and found.json()["artist"] == name, found.text
        record = client.get("/record")
        health = client.get("/health")
    assert listing.status_code == card.status_code == record.status_code == 200, (artist, card.text)
    assert health.status_code == 200
    assert card.json()["artist"] == artist
    body = listing.json()
    if not shape.scorable:
        assert body["candidates"] == [] and NOTHING_TO_SCORE.search(body["note"])


@pytest.mark.parametrize(
    ("make", "name"),
    [
        pytest.param(make, name, id=name, marks=[pytest.mark.slow] if name in SLOW else [])
        for make, name in zip(SHAPES, NAMES, strict=True)
    ],
)
async def test_history_shape_ends_in_results_or_one_plain_line(
    make: Callable[[], Shape],
    name: str,
    fake: FakeTelegram,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.perf_counter()
    shape = make()
    assert shape.name == name
    set_clock(lambda: shape.now)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{data / DB_NAME}")
    monkeypatch.setenv("BREAKOUT_MODEL_DIR", str(data / "models"))
    monkeypatch.setenv("BREAKOUT_TIMEZONE", shape.tz)
    history = write_ghan(shape.scrobbles, tmp_path / f"{shape.name}.csv")

    assert "new" in await cli(capsys, "import", str(history))
    assert "last complete month" in await cli(capsys, "rebuild")
    month = month_of(int(shape.now.timestamp()), shape.tz)
    assert await sql(data, "SELECT DISTINCT month FROM artist_status") == [(month,)]
    assert await sql(data, "SELECT scored_month FROM model_runs") == [(add_months(month, -1),)]
    listing = await cli(capsys, "candidates")
    names = listed(listing)
    if shape.scorable:
        assert names or "Nobody right now" in listing, listing
    else:
        assert not names and NOTHING_TO_SCORE.search(listing), listing
    status = json.loads(await cli(capsys, "status", "--json"))
    artist = names[0] if names else str(shape.scrobbles["artist"].iloc[-1])
    assert artist in await cli(capsys, "why", artist)
    assert (await cli(capsys, "record")).strip()
    assert status["scrobbles"] > 0

    await _bot_card(fake, _settings(fake, data, shape), shape, artist)
    _api(_settings(fake, data, shape), artist, shape)
    print(f"shape {shape.name}: {len(names)} listed, {time.perf_counter() - started:.1f} s")
