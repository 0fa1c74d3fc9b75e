"""Shared fixtures: a migrated SQLite file per test, paths of the shared histories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.db.session import Database

# The real-bot harness (fixtures `fake`, `seeded`, `data_dir`) for every test module.
pytest_plugins = ["tests.bot_harness"]

SHARED_HISTORIES = Path(__file__).resolve().parents[2] / "shared" / "data" / "histories"


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


def shared_history(name: str) -> Path:
    """Path of a shared real history; skips the test when it is absent."""
    path = SHARED_HISTORIES / name
    if not path.exists():
        pytest.skip(f"shared history {name} not available")
    return path
