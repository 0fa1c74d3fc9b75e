"""Long-lived objects of one bot process: database, clients, clock, locks, sync progress."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.timeutil import Clock, utc_now

if TYPE_CHECKING:
    import httpx

    from bot.config import Settings
    from bot.db.session import Database
    from bot.lastfm.client import LastfmClient
    from bot.metadata.fetcher import MetadataFetcher
    from bot.sources import SourceSync

log = logging.getLogger(__name__)


RATE_PAGES = 20  # the ETA follows the pace of the last this many pages


@dataclass
class SyncProgress:
    """What the sync in progress has done (shown by /start, /sync and the onboarding)."""

    running: bool = False
    mode: str = "sync"
    pages_done: int = 0
    total_pages: int = 0
    stored: int = 0
    last_summary: str = ""
    complete: bool = False  # the walk reached its last page
    monotonic: Callable[[], float] = time.monotonic
    # (monotonic time, page) of the pages read by this run: the measured page rate.
    marks: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=RATE_PAGES))
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def page_done(self, pages_done: int, total_pages: int, stored: int) -> None:
        """The sync's progress callback: one more page stored."""
        self.pages_done, self.total_pages, self.stored = pages_done, total_pages, stored
        self.marks.append((self.monotonic(), pages_done))

    def finish(self) -> None:
        """The sync ended (complete or not)."""
        self.running = False
        self.finished.set()

    def seconds_left(self) -> float | None:
        """Seconds until the last page at the pace of the recent pages; None before two pages.

        Measured from the pages this run read, so a walk resumed at page 400 after a restart
        does not count 399 pages it never read.
        """
        if not self.total_pages or len(self.marks) < 2:
            return None
        (t0, p0), (t1, p1) = self.marks[0], self.marks[-1]
        if p1 <= p0 or t1 <= t0:
            return None
        return (t1 - t0) / (p1 - p0) * max(0, self.total_pages - p1)


@dataclass
class Runtime:
    """Everything services need from the running bot; owned by post_init/post_shutdown."""

    settings: Settings
    db: Database
    http: httpx.AsyncClient
    lastfm: LastfmClient | None  # sync (LISTENS_SOURCE=lastfm) and artist metadata
    source: SourceSync | None = None  # None: LISTENS_SOURCE lacks a setting
    fetcher: MetadataFetcher | None = None  # artist metadata; None without a metadata source
    clock: Clock = utc_now
    sync_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rebuild_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    progress: SyncProgress = field(default_factory=SyncProgress)
    failing: set[str] = field(default_factory=set)  # jobs whose failure the owner was told
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    push_pending: bool = False  # a push Telegram provably did not deliver waits for the owner
    onboarding_pending: bool = False  # the "history is in" message waits for the owner, likewise

    def now(self) -> datetime:
        """Current time from the injectable clock (tests drive it)."""
        return self.clock()

    def local_now(self) -> datetime:
        """Current time in the owner's time zone."""
        return self.clock().astimezone(self.settings.tz)

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
