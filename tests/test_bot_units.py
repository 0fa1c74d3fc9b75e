"""Bot building blocks: callback data, schedule periods, job runs, feedback labels, the fake."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from bot.db import jobruns
from bot.db.models import Feedback, JobRun
from bot.db.session import Database
from bot.services.feedback import CONFIRM, DISMISS, UnknownCandidate, record_feedback
from bot.telegram.charts import daily_plays_png
from bot.telegram.keyboards import (
    candidate_keyboard,
    card_keyboard,
    feedback_data,
    parse_details,
    parse_feedback,
    parse_page,
    parse_setting,
    parse_undo,
    parse_why,
)
from bot.timeutil import nightly_period, push_month
from tests.fakes.telegram_server import ApiError, check_html, check_markup

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_callback_data_round_trips_and_rejects_forgeries() -> None:
    assert parse_feedback(feedback_data(CONFIRM, 42)) == (CONFIRM, 42)
    assert parse_feedback("fb:d:7") == (DISMISS, 7)
    for forged in ["fb:x:1", "fb:c:", "fb:c:0", "fb:c:01", "fb:c:1 ", "fb:c:-1", "fb:c:1:2", None]:
        assert parse_feedback(forged) is None, forged
    assert parse_why("why:12") == 12
    assert parse_why("why:Simon & Garfunkel") is None
    assert parse_why("why:١٢") is None  # Arabic-Indic digits are digits to \d, not to us
    assert parse_undo("un:v:3") == ("v", 3) and parse_undo("un:x:3") is None
    assert parse_page("pg:10") == 10 and parse_page("pg:99999") is None
    assert parse_setting("st:push") == "push" and parse_setting("st:owner") is None
    assert parse_details("sd:1") is True and parse_details("sd:2") is None


def test_keyboard_data_is_short_and_never_a_name() -> None:
    long_name = "Simon & Garfunkel " * 20
    big = 10**17
    cands = [
        SimpleNamespace(candidate_id=big + n, artist_id=big, artist=long_name) for n in range(3)
    ]
    markup = candidate_keyboard(cands)
    assert markup is not None
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert all(len(d.encode()) <= 64 and "Simon" not in d for d in data)
    assert [len(row) for row in markup.inline_keyboard] == [1, 1, 1]  # one button per artist
    assert all(len(b.text) <= 31 for row in markup.inline_keyboard for b in row)
    card = card_keyboard(big, DISMISS, big)
    assert card is not None
    assert [b.text for row in card.inline_keyboard for b in row] == [
        "✅ Confirm",
        "❌ Dismissed",
        "↩️ Undo",
    ]
    assert all(len(b.callback_data.encode()) <= 64 for row in card.inline_keyboard for b in row)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 28, 2, 59), "2026-11-27"),
        (datetime(2026, 11, 28, 3, 0), "2026-11-28"),
        (datetime(2026, 1, 1, 0, 30), "2025-12-31"),
    ],
)
def test_nightly_period(local: datetime, expected: str) -> None:
    assert nightly_period(local, time(3, 0)) == expected


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 12, 1, 8, 59), "2026-10"),  # before the slot: the previous push
        (datetime(2026, 12, 1, 9, 0), "2026-11"),
        (datetime(2026, 12, 31, 23, 0), "2026-11"),
        (datetime(2027, 1, 1, 9, 30), "2026-12"),
        (datetime(2027, 1, 1, 0, 0), "2026-11"),
    ],
)
def test_push_month(local: datetime, expected: str) -> None:
    assert push_month(local, time(9, 0)) == expected


def test_push_month_respects_the_owner_time_zone() -> None:
    utc = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # already Dec 1 09:30 in Sydney
    assert push_month(utc.astimezone(ZoneInfo("Australia/Sydney")), time(9, 0)) == "2026-11"
    assert push_month(utc.astimezone(ZoneInfo("UTC")), time(9, 0)) == "2026-10"


async def test_claim_is_exactly_once_and_undelivered_can_be_reclaimed(db: Database) -> None:
    async with db.sessions() as s, s.begin():
        first = await jobruns.claim(s, "monthly_push", "2026-11", NOW)
    async with db.sessions() as s, s.begin():
        assert await jobruns.claim(s, "monthly_push", "2026-11", NOW) is None
        assert await jobruns.claim(s, "monthly_push", "2026-10", NOW) is not None
    assert first is not None
    async with db.sessions() as s, s.begin():
        await jobruns.finish(s, first, jobruns.UNDELIVERED, "connection refused", NOW)
    async with db.sessions() as s, s.begin():
        assert await jobruns.claim(s, "monthly_push", "2026-11", NOW) == first
        stale = await jobruns.interrupt_stale(s, NOW)
    assert {r.period for r in stale} == {"2026-11", "2026-10"}
    async with db.sessions() as s:
        rows = (await s.execute(select(JobRun))).scalars().all()
        latest = await jobruns.latest(s)
    assert {r.outcome for r in rows} == {jobruns.INTERRUPTED}
    assert latest["monthly_push"].period in {"2026-10", "2026-11"}


async def _candidate(db: Database) -> int:
    async with db.sessions() as s, s.begin():
        conn = await s.connection()
        await conn.exec_driver_sql(
            "INSERT INTO artists (id, key, name) VALUES (1, 'simon & garfunkel', 'Simon & G')"
        )
        await conn.exec_driver_sql(
            "INSERT INTO model_runs (id, created_at, status, message, metrics_json) "
            "VALUES (1, '2026-11-28 00:00:00', 'model', '', '{}')"
        )
        await conn.exec_driver_sql(
            "INSERT INTO candidates (id, run_id, artist_id, month, window, probability, rank, "
            "above_threshold, first_seen_ts, plays) "
            "VALUES (5, 1, 1, '2026-10', 'month', 0.7, 1, 1, 0, 9)"
        )
    return 5


async def test_feedback_is_idempotent_changeable_and_rejects_unknown_ids(db: Database) -> None:
    cid = await _candidate(db)
    async with db.sessions() as s, s.begin():
        first = await record_feedback(s, cid, DISMISS, NOW)
    async with db.sessions() as s, s.begin():
        again = await record_feedback(s, cid, DISMISS, NOW)
    assert (first.changed, again.changed) == (True, False)
    assert (first.artist, first.month) == ("Simon & G", "2026-10")
    async with db.sessions() as s, s.begin():
        changed = await record_feedback(s, cid, CONFIRM, NOW)
    assert changed.changed
    async with db.sessions() as s:
        rows = (await s.execute(select(Feedback))).scalars().all()
    assert [(r.artist_id, r.month, r.verdict) for r in rows] == [(1, "2026-10", CONFIRM)]
    with pytest.raises(UnknownCandidate, match="no candidate with id 999"):
        async with db.sessions() as s, s.begin():
            await record_feedback(s, 999, DISMISS, NOW)
    async with db.sessions() as s:
        assert (await s.execute(text("SELECT COUNT(*) FROM feedback"))).scalar() == 1


@pytest.mark.parametrize(
    "bad",
    [
        "Simon & Garfunkel",
        "a < b",
        "x > y",
        "<b>bold",
        "<b>x</i>",
        "<script>x</script>",
        "&nbsp;",
    ],
)
def test_fake_rejects_invalid_html(bad: str) -> None:
    with pytest.raises(ApiError, match="can't parse entities"):
        check_html(bad)


def test_fake_accepts_escaped_html_and_counts_visible_text() -> None:
    html = '<b>Simon &amp; Garfunkel</b> &lt;3 <a href="https://x.org/?a=1">x</a> <i>é</i>'
    assert check_html(html) == "Simon & Garfunkel <3 x é"
    with pytest.raises(ApiError, match="BUTTON_DATA_INVALID"):
        check_markup({"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]})


def test_chart_is_a_png() -> None:
    days = [NOW - timedelta(days=n) for n in range(59, -1, -1)]
    png = daily_plays_png(days, [n % 4 for n in range(60)], "$A & B$", core_bar=20)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
