"""Shared fixtures: a migrated SQLite file per test, paths of the shared histories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db.session import Database

SHARED_HISTORIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "histories"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or real credentials."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "LASTFM_API_KEY",
        "LASTFM_USERNAME",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_OWNER_ID",
        "DATABASE_URL",
        "LASTFM_API_URL",
        "TELEGRAM_API_BASE_URL",
        "LISTENS_SOURCE",
        "LISTENBRAINZ_USERNAME",
        "LISTENBRAINZ_TOKEN",
        "LISTENBRAINZ_API_URL",
    ):
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


def shared_history(name: str) -> Path:
    """Path of a shared real history; skips the test when it is absent."""
    path = SHARED_HISTORIES / name
    if not path.exists():
        pytest.skip(f"shared history {name} not available")
    return path
