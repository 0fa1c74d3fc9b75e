"""A whole chat through the real PTB application and the strict fake: what the owner sees."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bot.services import orchestration
from bot.telegram import messages
from bot.telegram.state import get_state
from tests.bot_harness import (
    OWNER,
    SEEDED_AT,
    STRANGER,
    Clock,
    ask,
    bot_settings,
    keyboard,
    running,
    sql,
    transcript,
)
from tests.fakes.telegram_server import Call, FakeTelegram

ODDS_SENTENCE = r"artists like this (became core for you|become core) \("  # own / prior odds


def artifacts(tmp_path: Path) -> Path:
    """Where the transcript and charts go (BREAKOUT_TEST_ARTIFACTS keeps them)."""
    target = Path(os.environ.get("BREAKOUT_TEST_ARTIFACTS") or tmp_path / "artifacts")
    target.mkdir(parents=True, exist_ok=True)
    return target


def buttons(call: Call) -> list[dict]:
    return [b for row in keyboard(call) for b in row]


async def press(fake: FakeTelegram, message: dict, data: str, method: str) -> Call:
    start = fake.mark()
    fake.press(OWNER, message, data)
    return await fake.wait_for(method, start=start)


async def open_card(fake: FakeTelegram, message: dict, data: str) -> tuple[Call, Call]:
    start = fake.mark()
    fake.press(OWNER, message, data)
    photo = await fake.wait_for("sendPhoto", start=start)
    card = await fake.wait_for("sendMessage", start=start)
    return photo, card


@pytest.mark.slow
async def test_a_session_as_the_owner_sees_it(
    fake: FakeTelegram, data_dir: Path, tmp_path: Path
) -> None:
    out = artifacts(tmp_path)
    charts: list[str] = []
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)) as app:
        start = await ask(fake, "/start")
        assert start.params["text"].startswith("<b>Breakout Artists</b>")

        help_ = await ask(fake, "/help")
        assert "A <b>core artist</b> is one you play a lot" in help_.params["text"]
        assert re.search(
            r"this month that is \d+ plays, 1% of the [\d,]+ you played in October 2026 "
            r"\(busier than this month so far, [\d,]+ plays\)",
            help_.params["text"],
        )

        listing = await ask(fake, "/candidates")
        text = listing.params["text"]
        assert text.count("<b>Breakout candidates</b>") == 1
        assert "xgboost" not in text.lower() and "threshold" not in text.lower()
        assert "about 1 in " in text or " in 10 (" in text
        rows = keyboard(listing)
        assert len(rows) == 6 and [len(r) for r in rows[:5]] == [1] * 5
        assert rows[-1][-1]["text"] == "more ▶"

        page2 = await press(fake, listing.result, rows[-1][-1]["callback_data"], "editMessageText")
        assert page2.params["message_id"] == str(listing.result["message_id"])
        assert "· 6–10 of" in page2.params["text"]
        assert keyboard(page2)[0][0]["text"].startswith("6. ")

        photo, card = await open_card(fake, listing.result, rows[0][0]["callback_data"])
        name = rows[0][0]["text"].split(". ", 1)[1]
        assert card.params["text"].startswith("<b>")
        assert re.search(
            r"artists like this (became core for you|become core) \(", card.params["text"]
        )
        assert "this month to count as core" in card.params["text"] or (
            "Core this month already" in card.params["text"]
        )
        assert [b["text"] for b in buttons(card)] == ["✅ Confirm", "❌ Dismiss"]
        assert "last 60 days" in photo.params["caption"]
        chart = out / "card_chart_1.png"
        chart.write_bytes(photo.files["photo"])
        charts.append(chart.name)

        confirm = buttons(card)[0]["callback_data"]
        edited = await press(fake, card.result, confirm, "editMessageText")
        assert "Your verdict: confirmed" in edited.params["text"]
        assert [b["text"] for b in buttons(edited)] == ["✅ Confirmed", "❌ Dismiss", "↩️ Undo"]
        undo = buttons(edited)[2]["callback_data"]
        restored = await press(fake, card.result, undo, "editMessageText")
        assert [b["text"] for b in buttons(restored)] == ["✅ Confirm", "❌ Dismiss"]
        assert await sql(data_dir, "SELECT COUNT(*) FROM feedback") == [(0,)]

        await press(fake, card.result, buttons(card)[1]["callback_data"], "editMessageText")
        verdicts = await ask(fake, "/verdicts")
        assert "❌ " in verdicts.params["text"] and "dismissed" in verdicts.params["text"]
        undo_v = buttons(verdicts)[0]
        assert undo_v["text"].startswith("↩️ Undo ")
        emptied = await press(fake, verdicts.result, undo_v["callback_data"], "editMessageText")
        assert emptied.params["text"] == messages.NO_VERDICTS
        assert await sql(data_dir, "SELECT COUNT(*) FROM feedback") == [(0,)]

        typo = name[:-1] + ("x" if name[-1] != "x" else "y")
        guess = await ask(fake, f"/why {typo}")
        assert "Did you mean" in guess.params["text"]
        assert not fake.calls_of("sendPhoto")[1:], "no card for a guess"
        photo2, _ = await open_card(fake, guess.result, buttons(guess)[0]["callback_data"])
        chart = out / "card_chart_2.png"
        chart.write_bytes(photo2.files["photo"])
        charts.append(chart.name)

        pick = await ask(fake, "/why")
        assert pick.params["text"] == messages.WHY_PICK and len(buttons(pick)) == 5

        # what the scheduled start-up catch-up does (this bot runs without its scheduler)
        await orchestration.ensure_track_record(get_state(app))
        start_record = fake.mark()
        record = await ask(fake, "/record")
        assert record.params["text"].startswith("<b>")
        assert "A replay" in record.params["text"] or "My predictions" in record.params["text"]
        record_chart = await fake.wait_for("sendPhoto", start=start_record)
        chart = out / "record_chart.png"
        chart.write_bytes(record_chart.files["photo"])
        charts.append(chart.name)

        status = await ask(fake, "/status")
        assert "History: " in status.params["text"] and "Model:" not in status.params["text"]
        details = await press(fake, status.result, "sd:1", "editMessageText")
        assert "Predictions: odds learned from your past breakouts" in details.params["text"]
        assert not re.search(r"pid|monthly_push|\d{4}-\d\d-\d\dT", details.params["text"])

        settings = await ask(fake, "/settings")
        assert buttons(settings)[0]["text"] == "Monthly push: on"
        await press(fake, settings.result, "st:moments", "editMessageReplyMarkup")

        usage = await ask(fake, "/candidates ²")
        assert usage.params["text"].startswith("Usage: /candidates")
        long_why = await ask(fake, "/why " + "x" * 4091)
        assert "…" in long_why.params["text"]

        mark = fake.mark()
        fake.edit_text(OWNER, start.result["message_id"] - 1, "/sync")
        await ask(fake, "/help")
        assert [c.method for c in fake.calls[mark:] if c.method == "sendMessage"] == [
            "sendMessage"
        ], "an edited message ran a command"
        refusal = await ask(fake, "/start", user=STRANGER)
        assert f"Your Telegram user id is <code>{STRANGER}</code>" in refusal.params["text"]
    async with running(bot_settings(fake, data_dir), Clock(SEEDED_AT)):
        again = await ask(fake, "/settings")
        assert "Breakout moments: off" in [b["text"] for b in buttons(again)]
    session = transcript(fake)
    (out / "transcript.txt").write_text(session, encoding="utf-8")
    (out / "charts.json").write_text(json.dumps(charts), encoding="utf-8")
    assert "» /candidates" in session and "« (edits its message)" in session
