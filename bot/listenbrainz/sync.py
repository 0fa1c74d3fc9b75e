"""Fault-proof ListenBrainz sync: a resumable max_ts walk, newest first, like the Last.fm one.

A walk reads every listen below a pinned top (now + 1, since max_ts is exclusive) down to
its lower bound (none for a backfill, 14 days before the newest stored listen otherwise).
Many listens can share one listened_at second, so a full page never moves the cursor to its
oldest second T (that would skip the listens at T that did not fit) but to T + 1: the next
page re-reads second T, and the unique key drops what was stored already. The cursor
(`cursor_to`, the next max_ts) is committed with each page's listens, so a killed run
resumes exactly there.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Callable

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Scrobble, SyncState
from bot.db.scrobbles import store_scrobbles
from bot.lastfm.sync import (
    Progress,
    SyncConflict,
    SyncReport,
    begin_walk,
    discard_task,
    record_error,
)
from bot.listenbrainz.client import (
    ListenBrainzClient,
    ListenBrainzError,
    ListenBrainzUnavailable,
    ListensPage,
)
from bot.timeutil import unix_now, utc_now
from pipeline.plausible import implausible_ts

log = logging.getLogger(__name__)


def state_key(username: str) -> str:
    """Sync-state row of a ListenBrainz user (names are case-insensitive)."""
    return f"listenbrainz:{username.lower()}"


def next_max_ts(page: ListensPage, lower: int | None) -> int | None:
    """The exclusive max_ts of the request after `page`, or None when the walk is complete."""
    oldest = page.oldest_ts
    if oldest is None or (lower is not None and oldest < lower):
        return None
    if page.short and (page.user_oldest_ts is None or page.user_oldest_ts >= oldest):
        return None  # fewer than asked for and nothing older: the end
    # A short page above the user's oldest listen means the server stopped early; like a
    # full page, it may have cut its oldest second, so that second is read again.
    if oldest + 1 < page.max_ts:
        return oldest + 1
    if not page.short:
        log.warning(
            "more than %d listens at second %d: those beyond the page cannot be read",
            page.requested,
            oldest,
        )
    return oldest


async def _advance(
    session: AsyncSession,
    key: str,
    walk: tuple[int | None, int, int],
    page: ListensPage,
    following: int | None,
) -> None:
    """Move the cursor to `following` after `page` (one UPDATE), or close the walk at None."""
    lower, number, max_ts = walk
    newest = int(page.frame["ts"].max()) if not page.frame.empty else 0
    values: dict[str, object] = {"cursor_page": number + 1, "cursor_to": following}
    if newest:
        values["high_water_ts"] = func.max(func.coalesce(SyncState.high_water_ts, 0), newest)
    if following is None:
        # The anchor of the next incremental walk: the newest listen read so far.
        values.update(
            synced_to=func.max(
                func.coalesce(SyncState.synced_to, 0),
                func.coalesce(SyncState.high_water_ts, 0),
                newest,
            ),
            cursor_from=None,
            cursor_page=None,
            cursor_total_pages=None,
            last_sync_at=utc_now(),
            last_error=None,
        )
        if lower is None:
            values["backfill_done"] = True
    statement = (
        update(SyncState)
        .where(
            SyncState.username == key,
            SyncState.cursor_page == number,
            SyncState.cursor_to == max_ts,
        )
        .values(values)
    )
    conn = await session.connection()
    if (await conn.execute(statement)).rowcount != 1:
        raise SyncConflict(f"another sync of {key} moved the cursor; this one stopped")


def _estimate_pages(done: int, start: int, cursor: int, bottom: int | None, pages: int) -> int:
    """Pages of the walk, extrapolated from the seconds the pages of this run covered."""
    covered = start - cursor
    if bottom is None or covered <= 0 or pages == 0:
        return done + 1
    return done + max(1, math.ceil((cursor - bottom) / (covered / pages)))


async def _notify(progress: Progress | None, done: int, total: int, new: int) -> None:
    """Call the progress callback, awaiting it when it is async."""
    if progress is not None:
        outcome = progress(done, total, new)
        if inspect.isawaitable(outcome):
            await outcome


async def _older_than_stored(sessions: async_sessionmaker, oldest: int | None) -> bool:
    """Whether the server's oldest listen predates every stored scrobble (a later import)."""
    if oldest is None or implausible_ts(np.array([oldest]), utc_now().timestamp())[0]:
        return False
    async with sessions() as session:
        stored = (await session.execute(select(func.min(Scrobble.ts)))).scalar()
    return stored is None or oldest < stored


def _tally(report: SyncReport, page: ListensPage, new: int) -> None:
    """Add one stored page to the report."""
    report.pages += 1
    report.fetched += len(page.frame)
    report.new += new
    report.skipped_invalid += page.skipped_invalid


async def sync_listens(
    sessions: async_sessionmaker,
    client: ListenBrainzClient,
    username: str,
    *,
    full: bool = False,
    progress: Progress | None = None,
    clock: Callable[[], float] = unix_now,
) -> SyncReport:
    """Backfill, resume or incrementally sync `username`'s listens, committing every page.

    ListenBrainz staying unavailable ends the run early with `done=False` (cursor saved);
    ListenBrainzFatalError and other ListenBrainzErrors are recorded in `last_error` and raised.
    """
    key, now = state_key(username), clock()
    async with sessions() as session, session.begin():
        state, mode = await begin_walk(session, key, full, int(now) + 1)
        number, lower, max_ts = state.cursor_page or 1, state.cursor_from, state.cursor_to or 0
    report = SyncReport(f"{username} on ListenBrainz", mode, start_page=number)
    log.info("ListenBrainz %s sync of %s from max_ts %d (min %s)", mode, username, max_ts, lower)
    start, capped, user_oldest = max_ts, 0, None
    task: asyncio.Task[ListensPage] | None = None
    try:
        await client.check_token()
        task = asyncio.create_task(client.listens_page(username, max_ts, now))
        while task is not None:
            try:
                page = await task
            except ListenBrainzUnavailable as exc:
                task = None
                report.message = f"{exc}; progress saved at page {number}, run again later"
                await record_error(sessions, key, str(exc))
                return report
            following = next_max_ts(page, lower)
            # Fetch the next page while this one is stored; the rate limits still apply.
            task = None
            if following is not None:
                task = asyncio.create_task(client.listens_page(username, following, now))
            async with sessions() as session, session.begin():
                new = await store_scrobbles(session, page.frame)
                await _advance(session, key, (lower, number, max_ts), page, following)
            _tally(report, page, new)
            capped, user_oldest = capped + page.capped_names, page.user_oldest_ts
            bottom = lower if lower is not None else page.user_oldest_ts
            report.total_pages = (
                number
                if following is None
                else _estimate_pages(number, start, following, bottom, report.pages)
            )
            await _notify(progress, number, report.total_pages, report.new)
            number, max_ts = number + 1, following or max_ts
    except ListenBrainzError as exc:
        await record_error(sessions, key, str(exc))
        raise
    finally:
        await discard_task(task)
    if capped:
        log.warning("%d names were longer than the cap and were cut", capped)
    report.done = True
    report.message = report.summary()
    if mode == "incremental" and await _older_than_stored(sessions, user_oldest):
        report.message += (
            "; ListenBrainz holds listens older than the stored history (imported there "
            "later?): `breakout sync --full` fetches them"
        )
    return report
