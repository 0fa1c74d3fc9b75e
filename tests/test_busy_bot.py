"""Card button presses while a big import and a sync run: every verdict stored, none waits long."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from bot.db.session import ANSWER_DEADLINE_SECONDS
from bot.telegram import messages
from tests.bot_harness import (
    DB_NAME,
    OWNER,
    SEEDED_AT,
    Clock,
    ask,
    keyboard,
    lastfm_settings,
    running,
)
from tests.fakes.lastfm_server import FakeLastfm
from tests.fakes.telegram_server import Call, FakeTelegram

ROOT = Path(__file__).resolve().parents[1]
IMPORT_ROWS = int(os.environ.get("BREAKOUT_BUSY_IMPORT_ROWS", "150000"))


def write_big_ghan(path: Path, rows: int) -> Path:
    """A ghan CSV of `rows` distinct scrobbles of 5,000 new artists, one a minute from 2015."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n")
        start = 1_420_070_400
        for i in range(rows):
            handle.write(f"{start + 60 * i},,Imported {i % 5000},,Album {i % 700},,Track {i},\n")
    return path


async def open_cards(fake: FakeTelegram, listing: Call, count: int) -> list[tuple[dict, int]]:
    """Open the first `count` cards of a /candidates page: (card message, 0 Confirm / 1 Dismiss)."""
    opens = [b["callback_data"] for row in keyboard(listing) for b in row]
    opens = [data for data in opens if data.startswith("why:")][:count]
    assert opens, "the candidates page has no cards to open"
    pressable = []
    for data in opens:
        start = fake.mark()
        fake.press(OWNER, listing.result, data)
        await fake.wait_for("sendPhoto", start=start, within=30)
        card = await fake.wait_for(
            "sendMessage", start=start, where=lambda c: keyboard(c) != [], within=30
        )
        pressable += [(card.result, 0), (card.result, 1)]
    return pressable


def on_card(fake: FakeTelegram, card: dict, button: int) -> str:
    """callback_data of Confirm (0) or Dismiss (1) as the card shows it now.

    The rebuild after the sync makes new candidate rows, and a refreshed card carries their ids.
    """
    current = fake.messages[(card["chat"]["id"], card["message_id"])]
    return current["reply_markup"]["inline_keyboard"][0][button]["callback_data"]


def _import_running(path: Path) -> bool:
    with sqlite3.connect(path, timeout=30) as connection:
        row = connection.execute(
            "SELECT 1 FROM job_runs WHERE job = 'import' AND outcome = 'running'"
        ).fetchone()
    return row is not None


@pytest.mark.slow
async def test_every_press_during_a_long_import_and_a_sync_is_stored(
    fake: FakeTelegram, data_dir: Path, tmp_path: Path
) -> None:
    history = write_big_ghan(tmp_path / "big.csv", IMPORT_ROWS)
    db_path = data_dir / DB_NAME
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    with FakeLastfm([]) as lastfm:
        settings = lastfm_settings(fake, data_dir, lastfm)
        async with running(settings, Clock(SEEDED_AT)):
            listing = await ask(fake, "/candidates")
            buttons = await open_cards(fake, listing, 3)
            importer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "import",
                str(history),
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            fake.send_text(OWNER, "/sync")
            began = time.monotonic()
            waits: list[float] = []
            last: list[tuple[str, str]] = []  # (candidate id, verdict letter), in press order
            during_writes = 0
            while importer.returncode is None:  # press, press, press until the import ends
                card, button = buttons[len(waits) % len(buttons)]
                data = on_card(fake, card, button)
                writing = await asyncio.to_thread(_import_running, db_path)
                start = fake.mark()
                pressed = time.monotonic()
                fake.press(OWNER, card, data)
                answer = await fake.wait_for("answerCallbackQuery", start=start, within=30)
                waits.append(time.monotonic() - pressed)
                text = answer.params.get("text", "")
                assert "NOT saved" not in text and "Sorry" not in text, text
                _, letter, candidate = data.split(":")
                last.append((candidate, letter))
                during_writes += writing
                await asyncio.sleep(0.1)
            out, err = (b.decode() for b in await importer.communicate())
            print(
                f"{len(waits)} presses in {time.monotonic() - began:.1f} s, "
                f"{during_writes} while the import wrote; slowest {max(waits):.2f} s"
            )
    assert importer.returncode == 0, err
    assert f"{IMPORT_ROWS:,} new scrobbles" in out
    # Well inside the handler's own deadline: a press never waits out a whole import.
    assert max(waits) < ANSWER_DEADLINE_SECONDS / 2, waits
    assert during_writes >= 3, "no press landed while the import wrote: make it bigger"
    with sqlite3.connect(db_path) as connection:
        verdict_of = dict(
            connection.execute(
                "SELECT f.artist_id || ':' || f.month, f.verdict FROM feedback f"
            ).fetchall()
        )
        key_of = dict(
            connection.execute("SELECT id, artist_id || ':' || month FROM candidates").fetchall()
        )
    # A verdict belongs to (artist, month); the card's candidate id changes with a rebuild.
    expected: dict[str, int] = {}
    for candidate, letter in last:
        expected[key_of[int(candidate)]] = 1 if letter == "c" else 0
    assert len(expected) == 3, expected  # three cards, one (artist, month) each
    assert {key: verdict_of.get(key) for key in expected} == expected
    sent = [c.params.get("text", "") for c in fake.calls_of("sendMessage")]
    assert not [text for text in sent if text.startswith("Sorry")]
    assert messages.SYNC_STARTED.format(source="Last.fm") in sent
