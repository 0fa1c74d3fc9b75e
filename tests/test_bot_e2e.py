"""The real PTB Application against the fake Telegram server: commands, buttons, guard, 429."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from html import unescape
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.telegram import messages
from bot.telegram.keyboards import candidate_keyboard
from bot.telegram.send import send_html
from tests.bot_harness import (
    OWNER,
    SEEDED_AT,
    STRANGER,
    Clock,
    ask,
    bot_settings,
    data_dir,
    fake,
    keyboard,
    running,
    seeded,
    sql,
)
from tests.fakes.telegram_server import TOKEN, Call, FakeTelegram, parse_body

# Every test here starts the real PTB application against the fake Bot API: seconds each.
pytestmark = pytest.mark.slow

__all__ = ["data_dir", "fake", "seeded"]  # fixtures


async def feedback_rows(data_dir: Path) -> list[tuple]:
    return await sql(data_dir, "SELECT artist_id, month, verdict FROM feedback")


async def first_card(fake: FakeTelegram) -> tuple[Call, Call]:
    """/candidates, then the card of the first artist: (listing, card)."""
    listing = await ask(fake, "/candidates")
    start = fake.mark()
    fake.press(OWNER, listing.result, keyboard(listing)[0][0]["callback_data"])
    await fake.wait_for("sendPhoto", start=start)
    return listing, await fake.wait_for("sendMessage", start=start)


async def test_start_publishes_commands_and_answers(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        assert [c["command"] for c in fake.commands][:2] == ["start", "candidates"]
        reply = await ask(fake, "/start")
        assert "Breakout Artists" in reply.params["text"]
        assert messages.SYNC_NOT_CONFIGURED in reply.params["text"]
        assert reply.params["parse_mode"] == "HTML"


async def test_dismiss_confirm_and_repeat(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        listing, card = await first_card(fake)
        dismissed = int(keyboard(listing)[0][0]["callback_data"].removeprefix("why:"))
        dismiss = keyboard(card)[0][1]["callback_data"]

        start = fake.mark()
        fake.press(OWNER, card.result, dismiss)
        answer = await fake.wait_for("answerCallbackQuery", start=start)
        edit = await fake.wait_for("editMessageText", start=start)
        assert answer.params["text"].startswith("Dismissed: ")
        assert keyboard(edit)[0][1]["text"] == "❌ Dismissed"
        month = (await feedback_rows(data_dir))[0][1]
        assert await feedback_rows(data_dir) == [(dismissed, month, 0)]

        # The same press again: nothing changes, "not modified" is swallowed, no error message.
        start = fake.mark()
        fake.press(OWNER, card.result, dismiss)
        answer = await fake.wait_for("answerCallbackQuery", start=start)
        assert "already recorded" in answer.params["text"]
        await fake.wait_for("editMessageText", start=start, ok=False)
        assert not [c for c in fake.calls_of("sendMessage") if "Sorry" in c.params["text"]]

        again = await ask(fake, "/candidates")
        shown = {b["callback_data"] for row in keyboard(again) for b in row}
        assert f"why:{dismissed}" not in shown
        assert len(keyboard(again)) == 6  # still a full page: the next artists move up

        # Changing one's mind is allowed: the label flips, still one row.
        start = fake.mark()
        fake.press(OWNER, card.result, keyboard(card)[0][0]["callback_data"])
        await fake.wait_for("editMessageText", start=start)
        assert await feedback_rows(data_dir) == [(dismissed, month, 1)]


async def test_forged_and_stale_buttons_change_nothing(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        listing, card = await first_card(fake)
        real = int(keyboard(card)[0][1]["callback_data"].removeprefix("fb:d:"))
        for message, data in [
            (card.result, "fb:c:999999999"),  # not a button of this message
            (listing.result, f"fb:d:{real}"),  # a real button, but of another message
            (card.result, "fb:x:1"),
            (card.result, "un:c:1"),
            (card.result, "pg:٣"),
            (card.result, "rm -rf"),
        ]:
            start = fake.mark()
            fake.press(OWNER, message, data)
            answer = await fake.wait_for("answerCallbackQuery", start=start)
            assert answer.params["text"] == messages.BAD_BUTTON, data
        # A real button whose candidate has been deleted since (stale).
        await sql(data_dir, "DELETE FROM candidates WHERE id = :i", i=real)
        start = fake.mark()
        fake.press(OWNER, card.result, f"fb:d:{real}")
        answer = await fake.wait_for("answerCallbackQuery", start=start)
        assert answer.params["text"] == messages.STALE_BUTTON
        assert await feedback_rows(data_dir) == []
        assert not fake.calls_of("editMessageText", ok=None)


async def test_why_sends_card_and_chart(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        listing = await ask(fake, "/candidates")
        name = listing.params["text"].split("<b>")[2].split("</b>")[0]  # first candidate
        start = fake.mark()
        fake.send_text(OWNER, f"/why {unescape(name).upper()}")
        photo = await fake.wait_for("sendPhoto", start=start)
        explanation = await fake.wait_for("sendMessage", start=start)
        assert explanation.params["text"].startswith(f"<b>{name}</b>")
        assert photo.files["photo"].startswith(b"\x89PNG")
        assert unescape(name) in unescape(photo.params["caption"])

        # The special names of the simulator must be escaped everywhere.
        start = fake.mark()
        fake.send_text(OWNER, "/why simon & garfunkel")
        await fake.wait_for("sendPhoto", start=start)
        ampersand = await fake.wait_for("sendMessage", start=start)
        assert ampersand.params["text"].startswith("<b>Simon &amp; Garfunkel</b>")

        unknown = await ask(fake, "/why Simn and Garfunkle")
        assert "Did you mean" in unknown.params["text"]
        buttons = [b for row in keyboard(unknown) for b in row]
        assert buttons and all(b["callback_data"].startswith("why:") for b in buttons)
        assert buttons[0]["text"] == "Simon & Garfunkel"
        start = fake.mark()
        fake.press(OWNER, unknown.result, buttons[0]["callback_data"])
        await fake.wait_for("sendPhoto", start=start)
        suggested = await fake.wait_for("sendMessage", start=start)
        assert suggested.params["text"].startswith("<b>Simon &amp; Garfunkel</b>")


async def test_status_reports_history_model_and_schedule(
    fake: FakeTelegram, data_dir: Path
) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT), schedule=True):
        reply = await ask(fake, "/status")
        body = reply.params["text"]
        assert "History: 28,251 scrobbles" in body
        assert "nightly rebuild" in body and "monthly push" in body and "Model" not in body


async def test_stranger_gets_one_refusal_and_no_data(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        _, card = await first_card(fake)
        refusal = await ask(fake, "/candidates", user=STRANGER)
        told = messages.REFUSAL + messages.REFUSAL_ID.format(user_id=STRANGER)
        assert refusal.params["text"] == told
        start = fake.mark()
        fake.send_text(STRANGER, "/why Simon & Garfunkel")
        fake.press(STRANGER, card.result, keyboard(card)[0][1]["callback_data"])
        answer = await fake.wait_for("answerCallbackQuery", start=start)
        assert "text" not in answer.params  # refused once already: silent answer, no data
        # The owner still gets answers; nothing more went to the stranger's chat.
        await ask(fake, "/help")
        to_stranger = [
            c
            for c in fake.calls
            if c.params.get("chat_id") == str(STRANGER) and c.method != "getUpdates"
        ]
        assert [c.params["text"] for c in to_stranger] == [told]
        assert await feedback_rows(data_dir) == []


async def test_stranger_button_press_gets_the_refusal_as_answer(
    fake: FakeTelegram, data_dir: Path
) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        listing = await ask(fake, "/candidates")
        start = fake.mark()
        fake.press(STRANGER, listing.result, keyboard(listing)[0][0]["callback_data"])
        answer = await fake.wait_for("answerCallbackQuery", start=start)
        assert answer.params["text"] == messages.REFUSAL
        assert not fake.calls_of("sendPhoto", ok=None)


async def test_429_is_waited_out_and_retried(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        fake.fail_next("sendMessage", retry_after=1)
        start = fake.mark()
        fake.send_text(OWNER, "/help")
        refused = await fake.wait_for("sendMessage", start=start, ok=False)
        delivered = await fake.wait_for("sendMessage", start=start)
        assert delivered.at - refused.at >= 1.0
        assert delivered.params["text"].startswith("<b>How it works</b>")


def test_multipart_parsing_of_the_fake() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n1001\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="c.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\nDATA\r\n--XyZ--\r\n"
    )
    params, files = parse_body("multipart/form-data; boundary=XyZ", body)
    assert params == {"chat_id": "1001"}
    assert files == {"photo": b"\x89PNG\r\n\x1a\nDATA"}
    assert time.monotonic() > 0


async def test_breakout_bot_command_runs_and_stops_on_sigterm(
    fake: FakeTelegram, data_dir: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'breakout.sqlite3'}",
        "BREAKOUT_MODEL_DIR": str(data_dir / "models"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_OWNER_ID": str(OWNER),
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "LOG_LEVEL": "DEBUG",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "bot", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        # Polling starts with deleteWebhook(drop_pending_updates): send after it.
        await fake.wait_for("deleteWebhook", within=30)
        start = fake.mark()
        fake.send_text(OWNER, "/start")
        reply = await fake.wait_for(
            "sendMessage", start=start, where=lambda c: "Breakout Artists" in c.params["text"]
        )
        assert messages.SYNC_NOT_CONFIGURED in reply.params["text"]
        heartbeat = data_dir / "bot.heartbeat"  # what the container healthcheck reads
        deadline = time.monotonic() + 10
        while not heartbeat.exists():
            assert time.monotonic() < deadline, "no heartbeat file"
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, raw = await proc.communicate()
    stderr = raw.decode()
    assert proc.returncode == 0, stderr
    assert TOKEN not in stderr and TOKEN.split(":")[1] not in stderr
    assert "starting the bot" in stderr


async def test_a_failing_handler_tells_the_owner_in_one_line(
    fake: FakeTelegram, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        await sql(data_dir, "DROP TABLE candidate_reasons")
        reply = await ask(fake, "/candidates")
        assert reply.params["text"] == messages.FAILED.format(error="OperationalError")
        assert (await ask(fake, "/help")).params["text"].startswith("<b>How")  # still serving
    logged = [r for r in caplog.records if r.name == "bot.telegram.errors"]
    assert any(
        r.exc_info is not None and "no such table: candidate_reasons" in str(r.exc_info[1])
        for r in logged
    )


async def test_long_html_is_split_below_the_limit(fake: FakeTelegram, data_dir: Path) -> None:
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        text = "\n".join(f"{i}. <b>Simon &amp; Garfunkel &lt;{i}&gt;</b>" for i in range(400))
        board = candidate_keyboard(
            [SimpleNamespace(candidate_id=1, artist_id=2, artist="Simon & Garfunkel")]
        )
        sent = await send_html(app.bot, OWNER, text, board)
    calls = fake.calls_of("sendMessage")
    assert len(sent) == len(calls) >= 3  # the strict fake accepted every part
    assert [bool(c.params.get("reply_markup")) for c in calls] == [False] * (len(calls) - 1) + [
        True
    ]
    assert "\n".join(c.params["text"] for c in calls) == text
