"""Long-lived objects of the running bot, kept in `application.bot_data`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from telegram.ext import Application, ContextTypes

from bot.config import Settings
from bot.db.session import Database
from bot.lastfm.client import LastfmClient
from bot.sources import SourceSync

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Aware current UTC time (the default `now` provider)."""
    return datetime.now(UTC)


@dataclass
class SyncProgress:
    """What the sync in progress has done (shown by /start and /sync)."""

    running: bool = False
    mode: str = "sync"
    pages_done: int = 0
    total_pages: int = 0
    stored: int = 0
    last_summary: str = ""


@dataclass
class BotState:
    """Database, HTTP client, Last.fm client, listening source, locks and progress of one bot."""

    settings: Settings
    db: Database
    http: httpx.AsyncClient
    lastfm: LastfmClient | None
    source: SourceSync | None = None  # None: LISTENS_SOURCE lacks a setting
    sync_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rebuild_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    progress: SyncProgress = field(default_factory=SyncProgress)
    failing: set[str] = field(default_factory=set)  # jobs whose failure the owner was told
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background; post_shutdown cancels what is still running."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(_finished)
        task.add_done_callback(self.tasks.discard)
        return task


def _finished(task: asyncio.Task[Any]) -> None:
    """Log a background task's failure with its traceback (nobody else awaits it)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task %s failed", task.get_name(), exc_info=error)


def get_state(app: Application | ContextTypes.DEFAULT_TYPE) -> BotState:
    """The BotState of an application or a handler context."""
    return app.bot_data["state"]


def now(app: Application | ContextTypes.DEFAULT_TYPE) -> datetime:
    """Current time from the injectable clock in bot_data (tests drive it)."""
    return app.bot_data["now"]()


def settings_of(app: Application | ContextTypes.DEFAULT_TYPE) -> Settings:
    """The settings the application was built with."""
    return app.bot_data["settings"]
