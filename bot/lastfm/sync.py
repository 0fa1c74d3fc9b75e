"""Fault-proof Last.fm sync: a resumable backfill, then incremental runs that re-read 14 days."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Scrobble, SyncState
from bot.db.scrobbles import store_scrobbles
from bot.db.session import write_with_retry
from bot.errors import SourceError
from bot.lastfm.client import LastfmClient, LastfmError, LastfmUnavailable, Page
from bot.timeutil import unix_now, utc_now
from pipeline.errors import UserError

log = logging.getLogger(__name__)

# Last.fm accepts scrobbles up to two weeks late; incremental walks re-read that much.
LATE_SCROBBLE_WINDOW = 14 * 24 * 3600


class SyncConflict(UserError):
    """Another sync of the same user is running."""


Progress = Callable[[int, int, int], object]  # (pages_done, total_pages, new rows); may be async


@dataclass
class SyncReport:
    """What one `sync_history` run did."""

    username: str
    mode: str  # "backfill" (first), "full" (--full re-read) or "incremental"
    start_page: int = 1  # > 1 when the run resumed an interrupted walk
    pages: int = 0  # pages read by this run
    total_pages: int = 0
    fetched: int = 0  # dated scrobbles read
    new: int = 0  # rows that were not stored yet
    skipped_now_playing: int = 0
    skipped_invalid: int = 0  # implausible or missing date, no artist name, mistyped values
    capped: int = 0  # names cut to the length limit
    done: bool = False  # False: interrupted, the cursor is saved and the next run resumes
    message: str = ""

    @property
    def interrupted(self) -> bool:
        """True when Last.fm stayed unavailable and the walk stopped early."""
        return not self.done

    def summary(self) -> str:
        """One line: what was read and stored."""
        resumed = f", resumed at page {self.start_page}" if self.start_page > 1 else ""
        state = "complete" if self.done else "interrupted"
        skipped = ", ".join(
            f"{count} {what}"
            for count, what in (
                (self.skipped_now_playing, "now playing"),
                (self.skipped_invalid, "invalid"),
            )
            if count
        )
        return (
            f"{self.mode} sync of {self.username} {state}: {self.pages} pages{resumed}, "
            f"{self.fetched:,} scrobbles read, {self.new:,} new"
            + (f" (skipped {skipped})" if skipped else "")
            + (f", {self.capped:,} names cut to length" if self.capped else "")
        )


async def _walk_from(session: AsyncSession, state: SyncState) -> int | None:
    """Lower bound of a new (not --full) walk: 14 days before the newest listen, None for all.

    After a backfill the anchor is the newest synced scrobble. Before any sync of any source,
    an imported history stands in for the backfill: the walk starts 14 days before its newest
    scrobble, and the state counts as backfilled.
    """
    anchors = [ts for ts in (state.synced_to, state.high_water_ts) if ts is not None]
    if state.backfill_done:
        return max(0, min(anchors) - LATE_SCROBBLE_WINDOW) if anchors else None
    others = select(func.count()).where(SyncState.username != state.username)
    if (await session.execute(others)).scalar():
        return None  # another source synced here: its scrobbles say nothing about this one
    newest = (await session.execute(select(func.max(Scrobble.ts)))).scalar()
    if newest is None:
        return None
    state.backfill_done = True
    return max(0, int(newest) - LATE_SCROBBLE_WINDOW)


async def begin_walk(
    session: AsyncSession, username: str, full: bool, now: int
) -> tuple[SyncState, str]:
    """Resume the walk in progress or start the one this run needs; return state and mode."""
    state = await session.get(SyncState, username)
    if state is None:
        state = SyncState(username=username, backfill_done=False)
        session.add(state)
    in_progress = state.cursor_page is not None
    if full and not (in_progress and state.cursor_from is None):
        in_progress = False
    if not in_progress:
        state.cursor_page, state.cursor_total_pages, state.cursor_to = 1, None, now
        state.cursor_from = None if full else await _walk_from(session, state)
    if state.cursor_from is not None:
        mode = "incremental"
    else:
        mode = "full" if state.backfill_done else "backfill"
    await session.flush()
    return state, mode


async def _advance(
    session: AsyncSession, username: str, walk: tuple[int | None, int], page: int, result: Page
) -> None:
    """Move the cursor past `page`, or close the walk after its last page (one UPDATE)."""
    from_ts, to_ts = walk
    values: dict[str, object] = {"cursor_total_pages": result.total_pages}
    if not result.frame.empty:
        newest = int(result.frame["ts"].max())
        values["high_water_ts"] = func.max(func.coalesce(SyncState.high_water_ts, 0), newest)
    if page < result.total_pages:
        values["cursor_page"] = page + 1
    else:
        values.update(
            synced_to=func.max(func.coalesce(SyncState.synced_to, 0), to_ts),
            cursor_from=None,
            cursor_to=None,
            cursor_page=None,
            cursor_total_pages=None,
            last_sync_at=utc_now(),
            last_error=None,
        )
        if from_ts is None:
            values["backfill_done"] = True
    # The WHERE clause makes a second sync of the same user (bot and CLI at once) back off
    # instead of moving a cursor that is not its own.
    statement = (
        update(SyncState)
        .where(
            SyncState.username == username,
            SyncState.cursor_page == page,
            SyncState.cursor_to == to_ts,
        )
        .values(values)
    )
    conn = await session.connection()
    if (await conn.execute(statement)).rowcount != 1:
        raise SyncConflict(f"another sync of {username} moved the cursor; this one stopped")


async def _store_page(
    username: str, walk: tuple[int | None, int], page: int, result: Page, session: AsyncSession
) -> int:
    """Store one page and move the cursor in the session's transaction; the new rows."""
    new = await store_scrobbles(session, result.frame)
    await _advance(session, username, walk, page, result)
    return new


async def record_error(sessions: async_sessionmaker, username: str, message: str) -> None:
    """Keep the last failure of a sync in its state row (shown by /status)."""
    async with sessions() as session, session.begin():
        state = await session.get(SyncState, username)
        if state is not None:
            state.last_error = message[:500]


async def discard_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a prefetch nobody will use and retrieve its outcome."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, SourceError):
        await task


async def sync_history(
    sessions: async_sessionmaker,
    client: LastfmClient,
    username: str,
    *,
    full: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], float] = unix_now,
) -> SyncReport:
    """Backfill, resume or incrementally sync `username`'s scrobbles, committing every page.

    Last.fm staying unavailable ends the run early with `done=False` (cursor saved);
    LastfmFatalError and other LastfmErrors are recorded in `last_error` and raised.
    """
    key = username.lower()  # Last.fm user names are case-insensitive
    try:
        async with sessions() as session, session.begin():
            state, mode = await begin_walk(session, key, full, int(clock()))
            page, from_ts, to_ts = state.cursor_page or 1, state.cursor_from, state.cursor_to or 0
    except IntegrityError:  # two first syncs at once: the other one created the state row
        raise SyncConflict(f"another sync of {key} moved the cursor; this one stopped") from None
    report = SyncReport(username, mode, start_page=page, total_pages=state.cursor_total_pages or 0)
    log.info(
        "Last.fm %s sync of %s from page %d (from=%s, to=%s)", mode, username, page, from_ts, to_ts
    )

    def fetch(number: int) -> asyncio.Task[Page]:
        return asyncio.create_task(client.recent_tracks_page(username, number, from_ts, to_ts))

    task: asyncio.Task[Page] | None = fetch(page)
    try:
        while task is not None:
            try:
                result = await task
            except LastfmUnavailable as exc:
                task = None
                report.message = (
                    f"{exc}; progress saved at page {page} of {report.total_pages or '?'}, "
                    "run again later"
                )
                await record_error(sessions, key, str(exc))
                return report
            more = page < result.total_pages
            # Fetch the next page while this one is stored; the rate limiter still applies.
            task = fetch(page + 1) if more else None
            new = await write_with_retry(
                sessions, partial(_store_page, key, (from_ts, to_ts), page, result)
            )
            report.pages += 1
            report.total_pages = result.total_pages
            report.fetched += len(result.frame)
            report.new += new
            report.skipped_now_playing += result.skipped_now_playing
            report.skipped_invalid += result.skipped_invalid
            report.capped += result.capped
            if progress is not None:
                outcome = progress(page, max(result.total_pages, page), report.new)
                if inspect.isawaitable(outcome):
                    await outcome
            page += 1
    except LastfmError as exc:
        await record_error(sessions, key, str(exc))
        raise
    finally:
        await discard_task(task)
    report.done = True
    report.message = report.summary()
    return report
