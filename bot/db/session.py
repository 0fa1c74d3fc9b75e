"""Engine, session factory and migrations of the SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
BUSY_TIMEOUT_MS = 10_000


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def ensure_parent_dir(url: str) -> None:
    """Create the directory that will hold the SQLite file of `url`."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and not path.startswith(":memory:"):
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> AsyncEngine:
    """Async engine with WAL mode, a busy timeout and foreign keys on every connection."""
    ensure_parent_dir(url)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine.sync_engine, "connect", _set_pragmas)
    return engine


def make_sync_engine(url: str) -> Engine:
    """Synchronous engine on the same file, for pipeline work running in a worker thread."""
    ensure_parent_dir(url)
    sync_url = url.replace("sqlite+aiosqlite://", "sqlite://", 1)
    engine = create_engine(sync_url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _set_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    """The one session factory of a process."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_database_sync(url: str) -> None:
    """Migrate the database at `url` to the newest schema (blocking)."""
    ensure_parent_dir(url)
    command.upgrade(alembic_config(url), "head")


async def upgrade_database(url: str) -> None:
    """Migrate without blocking the event loop (Alembic's env.py runs its own loop)."""
    await asyncio.to_thread(upgrade_database_sync, url)


class Database:
    """The engine and session factory of one process, migrated on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Migrate (by default) and connect."""
        if migrate:
            await upgrade_database(url)
        return cls(url)

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
