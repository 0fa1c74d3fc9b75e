"""Running the real PTB Application against the fake Telegram server, and seeded databases."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from telegram.ext import Application

from bot.config import Settings
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.services.rebuild import rebuild
from bot.telegram.app import build_application
from bot.telegram.state import get_state
from bot.timeutil import set_clock
from pipeline.simulate import simulate_listener
from tests.fakes.telegram_server import TOKEN, Call, FakeTelegram

OWNER = 1001
STRANGER = 2002
SEEDED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # scores month 2026-10 and the last 30 days
DB_NAME = "breakout.sqlite3"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """A running fake Telegram server; the owner has talked to the bot before."""
    server = FakeTelegram().start()
    server.known_chats.add(OWNER)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 simulated months, rebuilt once per test session (copy it before changing it)."""
    directory = tmp_path_factory.mktemp("seeded") / "data"
    directory.mkdir()
    seed_directory(directory, months=24)
    return directory


@pytest.fixture
def data_dir(seeded: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded data directory."""
    return copy_seeded(seeded, tmp_path / "data")


async def sql(data_dir: Path, query: str, **params: object) -> list[tuple]:
    """Run one statement on the bot's database file (own engine, own transaction)."""
    db = Database(f"sqlite+aiosqlite:///{data_dir / DB_NAME}")
    try:
        async with db.sessions() as session, session.begin():
            result = await session.execute(text(query), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        await db.close()


async def flag_top(data_dir: Path, count: int) -> None:
    """Make the stored list's first `count` artists stand out (flagged, odds far above the base
    rate), for tests of what the bot does with standouts whatever the model made of the data."""
    await sql(
        data_dir,
        "UPDATE candidates SET above_threshold = 1, probability = 0.6 - rank * 0.01 "
        "WHERE rank BETWEEN 1 AND :n",
        n=count,
    )


def seed_directory(directory: Path, months: int, seed: int = 7) -> None:
    """A migrated database with a simulated history and one rebuild, plus its model files."""
    url = f"sqlite+aiosqlite:///{directory / DB_NAME}"

    async def store() -> None:
        db = await Database.open(url)
        try:
            async with db.sessions() as session, session.begin():
                await store_scrobbles(
                    session, simulate_listener(seed, months, SEEDED_AT.timestamp())
                )
        finally:
            await db.close()

    asyncio.run(store())
    rebuild(url, directory / "models", now=SEEDED_AT)


def copy_seeded(template: Path, target: Path) -> Path:
    """A private copy of a seeded directory for one test."""
    shutil.copytree(template, target)
    return target


def bot_settings(fake: FakeTelegram, data_dir: Path, **overrides: Any) -> Settings:
    """Settings pointing the bot at the fake and at `data_dir`."""
    values: dict[str, Any] = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / DB_NAME}",
        "BREAKOUT_MODEL_DIR": data_dir / "models",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_OWNER_ID": OWNER,
        "TELEGRAM_API_BASE_URL": fake.base_url,
    }
    values.update(overrides)
    return Settings(**values)


def lastfm_settings(fake: FakeTelegram, data_dir: Path, lastfm: Any, **more: Any) -> Settings:
    """`bot_settings` with the fake Last.fm `lastfm` as the listening source, unthrottled."""
    return bot_settings(
        fake,
        data_dir,
        LASTFM_API_KEY=lastfm.api_key,
        LASTFM_USERNAME=lastfm.username,
        LASTFM_API_URL=lastfm.url,
        LASTFM_REQUESTS_PER_SECOND=1000,
        **more,
    )


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@asynccontextmanager
async def running(
    settings: Settings, clock: Clock, *, schedule: bool = False
) -> AsyncIterator[Application]:
    """Start the Application like run_polling does, in the test's loop; stop it cleanly.

    The process clock (bot.timeutil.utc_now, read by plausibility checks and job bookkeeping)
    follows the bot's clock, so a test's "now" is one instant everywhere."""
    set_clock(clock)
    app = build_application(settings, clock=clock, schedule=schedule)
    await app.initialize()
    assert app.post_init is not None and app.post_shutdown is not None
    await app.post_init(app)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(drop_pending_updates=True, timeout=5, poll_interval=0)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)


async def idle(app: Application, within: float = 30.0) -> None:
    """Wait until the bot's background tasks (start-up catch-up, manual syncs) are done."""
    deadline = asyncio.get_running_loop().time() + within
    while get_state(app).tasks:
        assert asyncio.get_running_loop().time() < deadline, "background tasks still running"
        await asyncio.sleep(0.01)


def _reply(call: Call) -> bool:
    """Not the backfill progress message, which the bot sends on its own."""
    return not str(call.params.get("text", "")).startswith("📥")


async def ask(
    fake: FakeTelegram,
    text: str,
    *,
    user: int = OWNER,
    method: str = "sendMessage",
    where: Callable[[Call], bool] | None = None,
) -> Call:
    """Send `text` as `user` and wait for the bot's next `method` call (the next one `where`
    accepts, when other messages may be racing with the reply; never the backfill progress)."""
    start = fake.mark()
    fake.send_text(user, text)
    return await fake.wait_for(method, start=start, where=where or _reply)


def keyboard(call: Call) -> list[list[dict]]:
    """The inline keyboard a call sent."""
    markup = call.params.get("reply_markup")
    return json.loads(markup)["inline_keyboard"] if markup else []


def _buttons(params: dict) -> str:
    markup = params.get("reply_markup")
    rows = json.loads(markup)["inline_keyboard"] if isinstance(markup, str) and markup else []
    return "\n".join("   " + "  ".join(f"[{b['text']}]" for b in row) for row in rows)


def transcript(fake: FakeTelegram, user: int = OWNER) -> str:
    """The chat as the user saw it: what they sent and pressed, what the bot sent or edited."""
    events: list[tuple[float, str]] = []
    for at, kind, payload in fake.inbox:
        if payload.get("from", {}).get("id") != user:
            continue
        if kind == "callback_query":
            events.append((at, f"» presses [{payload['data']}]"))
        else:
            prefix = "» edits an old message to" if kind == "edited_message" else "»"
            sent = payload.get("text", "")
            shown = sent if len(sent) <= 120 else sent[:119] + f"… ({len(sent)} characters)"
            events.append((at, f"{prefix} {shown}"))
    for call in fake.calls:
        if not call.ok or call.params.get("chat_id", str(user)) != str(user):
            continue
        p = call.params
        if call.method == "sendMessage":
            body = unescape(re.sub(r"<[^>]+>", "", p["text"]))
            text = "« " + body.replace("\n", "\n  ")
        elif call.method == "sendPhoto":
            body = unescape(re.sub(r"<[^>]+>", "", p.get("caption", "")))
            text = f"« [chart {len(call.files.get('photo', b''))} bytes PNG] {body}"
        elif call.method == "editMessageText":
            body = unescape(re.sub(r"<[^>]+>", "", p["text"]))
            text = "« (edits its message) " + body.replace("\n", "\n  ")
        elif call.method == "editMessageReplyMarkup":
            text = "« (edits the buttons)"
        elif call.method == "answerCallbackQuery":
            text = f"« (button answer) {p.get('text', '')}".rstrip()
        else:
            continue
        buttons = _buttons(p)
        events.append((call.at, text + ("\n" + buttons if buttons else "")))
    return "\n".join(line for _, line in sorted(events, key=lambda e: e[0]))
