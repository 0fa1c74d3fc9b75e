"""Shared fixtures: the suite's pinned clock, a migrated SQLite file per test, shared histories."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.db.session import Database
from bot.timeutil import set_clock

# The real-bot harness (fixtures `fake`, `seeded`, `data_dir`) for every test module.
pytest_plugins = ["tests.bot_harness"]

SHARED_HISTORIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "histories"
DEFAULT_NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _suite_now() -> datetime:
    """BREAKOUT_TEST_NOW (ISO 8601; naive means UTC) or DEFAULT_NOW: never today's date."""
    raw = os.environ.get("BREAKOUT_TEST_NOW", "").strip()
    if not raw:
        return DEFAULT_NOW
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SUITE_NOW = _suite_now()


@pytest.fixture(autouse=True)
def _pinned_clock() -> Iterator[None]:
    """Every test starts at SUITE_NOW on the process clock (bot.timeutil.utc_now); time then
    runs at its normal pace, so timeouts and ages still work."""
    started = time.monotonic()
    set_clock(lambda: SUITE_NOW + timedelta(seconds=time.monotonic() - started))
    yield
    set_clock(None)


@pytest.fixture
def suite_now() -> datetime:
    """The instant the suite is pinned to (BREAKOUT_TEST_NOW)."""
    return SUITE_NOW


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env, real credentials or any setting of their shell."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:  # every variable Settings reads, new ones included
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file."""
    return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'breakout.sqlite3'}"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database, closed after the test."""
    database = await Database.open(db_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A migrated database file (`DATABASE_URL` points at it) with 500 scrobbles of two artists
    and two verdicts: what backup and restore tests copy, damage and restore."""
    import sqlite3

    from bot.db.session import upgrade_database_sync

    path = tmp_path / "data" / "breakout.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade_database_sync(url)
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO artists (id, key, name) VALUES (1, 'a', 'A'), (2, 'b', 'B')"
        )
        connection.executemany(
            "INSERT INTO scrobbles (ts, artist_id, artist_name, track, album) VALUES (?,?,?,?,?)",
            [(1_600_000_000 + i, 1 + i % 2, "AB"[i % 2], f"t{i}", "") for i in range(500)],
        )
        connection.executemany(
            "INSERT INTO feedback (artist_id, month, verdict, created_at, updated_at) "
            "VALUES (?, '2026-10', ?, '2026-11-01 09:00:00', '2026-11-01 09:00:00')",
            [(1, 1), (2, 0)],
        )
    return path


def shared_history(name: str) -> Path:
    """Path of a shared real history; skips the test when it is absent."""
    path = SHARED_HISTORIES / name
    if not path.exists():
        pytest.skip(f"shared history {name} not available")
    return path
