"""A verdict the owner waits for is retried while busy and, when it cannot be stored, says why."""

from __future__ import annotations

import pytest

from bot.db.session import Database
from bot.services.feedback import (
    CONFIRM,
    NotStored,
    UnknownCandidate,
    remove_verdict,
    store_verdict,
)

SETUP = [
    "INSERT INTO artists (id, key, name) VALUES (1, 'a', 'A')",
    "INSERT INTO model_runs (id, created_at, status, message, metrics_json) "
    "VALUES (1, '2026-11-28 00:00:00', 'model', '', '{}')",
    "INSERT INTO candidates (id, run_id, artist_id, month, window, probability, rank, "
    "above_threshold, first_seen_ts, plays) VALUES (5, 1, 1, '2026-10', 'month', 0.7, 1, 1, 0, 9)",
]


async def test_verdicts_store_undo_and_say_why_they_could_not(db: Database) -> None:
    with pytest.raises(UnknownCandidate):
        await store_verdict(db.sessions, 5, CONFIRM)
    async with db.sessions() as session, session.begin():
        conn = await session.connection()
        for statement in SETUP:
            await conn.exec_driver_sql(statement)
    stored = await store_verdict(db.sessions, 5, CONFIRM)
    assert (stored.artist, stored.month, stored.verdict) == ("A", "2026-10", CONFIRM)
    async with db.sessions() as session, session.begin():
        conn = await session.connection()
        await conn.exec_driver_sql(
            "CREATE TRIGGER no_more BEFORE UPDATE ON feedback "
            "BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END"
        )
    with pytest.raises(NotStored) as caught:
        await store_verdict(db.sessions, 5, 0)
    assert caught.value.problem and "\n" not in caught.value.problem
    removed = await remove_verdict(db.sessions, 1)
    assert removed is not None and removed.artist == "A"
