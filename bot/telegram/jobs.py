"""Scheduled work: sync every N minutes, nightly sync + rebuild, the monthly push exactly once.

Every run is a row in job_runs, claimed before the work starts. The monthly push is
at-most-once: its (monthly_push, YYYY-MM) row is committed before the first message is
sent, so a restart never sends a month twice. If the process dies between the claim and
the send, the row stays `running`, becomes `interrupted` at the next start, and the owner
is told in one line instead of getting a possibly duplicated push (/candidates still shows
the list). Only a failure that provably delivered nothing (Telegram refused the request or
the connection failed before the first message) marks the row `undelivered`, which the
next catch-up may claim again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from html import escape

from telegram import Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, JobQueue

from bot import render
from bot.db.scrobbles import history_stats
from bot.errors import SourceError
from bot.lastfm.sync import SyncConflict, SyncReport
from bot.services import jobruns, queries
from bot.services.rebuild import RebuildReport, rebuild
from bot.telegram import messages
from bot.telegram.keyboards import candidate_keyboard
from bot.telegram.send import send_html
from bot.telegram.state import SyncProgress, get_state, now, settings_of
from pipeline.config import PipelineConfig

log = logging.getLogger(__name__)

SYNC, NIGHTLY, MONTHLY_PUSH, STARTUP = "sync", "nightly", "monthly_push", "startup"
KEEP_SYNC_RUNS = timedelta(days=30)


def clock_time(hhmm: str) -> time:
    """time() of a validated "HH:MM" setting."""
    hours, minutes = hhmm.split(":")
    return time(int(hours), int(minutes))


def nightly_period(local_now: datetime, at: time) -> str:
    """Local date (YYYY-MM-DD) of the most recent nightly slot at or before `local_now`."""
    day = local_now.date()
    if local_now.time() < at:
        day -= timedelta(days=1)
    return day.isoformat()


def push_month(local_now: datetime, at: time) -> str:
    """The month (YYYY-MM) whose push slot (day 1 at `at`) is the most recent one."""
    first = local_now.date().replace(day=1)
    if local_now.day == 1 and local_now.time() < at:
        first = (first - timedelta(days=1)).replace(day=1)
    closed = first - timedelta(days=1)
    return f"{closed.year:04d}-{closed.month:02d}"


def sync_period(app: Application) -> str:
    """Key of a sync run: UTC, since local clock times repeat when the clocks go back."""
    return now(app).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_now(app: Application) -> datetime:
    """The injectable clock in the owner's time zone."""
    return now(app).astimezone(settings_of(app).tz)


@dataclass
class Record:
    """Outcome and detail a job fills in while it runs."""

    outcome: str = jobruns.OK
    detail: str = ""


@asynccontextmanager
async def recorded(app: Application, job: str, period: str) -> AsyncIterator[Record | None]:
    """Claim (job, period) in its own committed transaction; yield None if already claimed."""
    sessions = get_state(app).db.sessions
    async with sessions() as session, session.begin():
        run_id = await jobruns.claim(session, job, period, now(app))
    if run_id is None:
        yield None
        return
    record = Record()
    try:
        yield record
    except BaseException as exc:
        outcome = jobruns.INTERRUPTED if isinstance(exc, asyncio.CancelledError) else record.outcome
        outcome = jobruns.ERROR if outcome == jobruns.OK else outcome
        async with sessions() as session, session.begin():
            await jobruns.finish(session, run_id, outcome, f"{type(exc).__name__}: {exc}", now(app))
        raise
    async with sessions() as session, session.begin():
        await jobruns.finish(session, run_id, record.outcome, record.detail, now(app))


async def run_sync(app: Application) -> SyncReport | None:
    """One sync of the source (backfill, resume or incremental) under the sync lock; None if off."""
    state = get_state(app)
    if state.source is None:
        return None
    async with state.sync_lock:
        async with state.db.sessions() as session:
            empty = (await history_stats(session)).scrobbles == 0
        progress = state.progress = SyncProgress(running=True, mode="backfill" if empty else "sync")

        def on_page(pages_done: int, total_pages: int, stored: int) -> None:
            progress.pages_done, progress.total_pages, progress.stored = (
                pages_done,
                total_pages,
                stored,
            )

        try:
            report = await state.source.sync(state.db.sessions, progress=on_page)
        finally:
            progress.running = False
        progress.mode, progress.last_summary = report.mode, report.message or report.summary()
    log.info("%s", progress.last_summary)
    return report


async def run_rebuild(app: Application) -> RebuildReport:
    """Features, training when needed and scoring, off the event loop, one at a time."""
    state = get_state(app)
    settings = settings_of(app)
    async with state.rebuild_lock:
        return await asyncio.to_thread(
            partial(rebuild, tz=settings.BREAKOUT_TIMEZONE),
            state.db.url,
            settings.BREAKOUT_MODEL_DIR,
            PipelineConfig(),
            now(app),
        )


def _ok(app: Application, job: str) -> None:
    """A job succeeded: its next failure will be reported to the owner again."""
    get_state(app).failing.discard(job)


async def scheduled_sync(app: Application) -> None:
    """Every N minutes: sync; after a completed backfill, rebuild."""
    if get_state(app).sync_lock.locked():
        log.info("sync still running; skipping this slot")
        return
    period = sync_period(app)
    async with recorded(app, SYNC, period) as record:
        if record is None:
            return
        report = await run_sync(app)
        if report is None:
            record.detail = f"{settings_of(app).source_name} not configured"
            return
        record.detail = report.message
        if not report.done:
            # Network trouble: logged, and the next run resumes where this one stopped.
            record.outcome = jobruns.ERROR
            log.warning("sync interrupted: %s", report.message)
    _ok(app, SYNC)
    if report.done and report.mode == "backfill":
        await run_rebuild(app)


async def nightly(app: Application) -> bool:
    """Sync + rebuild for the current nightly slot unless it already ran; then push catch-up."""
    period = nightly_period(local_now(app), clock_time(settings_of(app).BREAKOUT_NIGHTLY_TIME))
    async with recorded(app, NIGHTLY, period) as record:
        if record is None:
            return False
        details = []
        try:
            report = await run_sync(app)
            details.append(
                report.message if report else f"{settings_of(app).source_name} not configured"
            )
        except (SourceError, SyncConflict) as exc:
            # The rebuild still runs on what is stored; the sync job reports the failure.
            log.warning("nightly sync failed: %s", exc)
            details.append(f"sync failed: {exc}")
        built = await run_rebuild(app)
        details.append(built.summary())
        record.detail = "; ".join(details)
        async with get_state(app).db.sessions() as session, session.begin():
            await jobruns.prune(session, SYNC, now(app) - KEEP_SYNC_RUNS)
    _ok(app, NIGHTLY)
    # A push that found nothing scored (e.g. the rebuild failed) is retried after a rebuild.
    await monthly_push(app)
    return True


def _undelivered(exc: TelegramError) -> bool:
    """True when the error proves Telegram did not deliver the message.

    Telegram refused it (bad request, blocked, still rate limited after the retries) or no
    connection was made. A timeout or a connection lost mid-request may have delivered it.
    """
    if isinstance(exc, BadRequest | Forbidden | RetryAfter):
        return True
    return isinstance(exc, NetworkError) and "ConnectError" in exc.message


async def monthly_push(app: Application) -> str:
    """Push the month just closed (above threshold, minus feedback), at most once ever."""
    settings = settings_of(app)
    state = get_state(app)
    local = local_now(app)
    at = clock_time(settings.BREAKOUT_MONTHLY_PUSH_TIME)
    month = push_month(local, at)
    async with state.db.sessions() as session:
        existing = await jobruns.get(session, MONTHLY_PUSH, month)
        if existing is not None and existing.outcome != jobruns.UNDELIVERED:
            return "already pushed"
        run = await queries.latest_run(session)
        if run is None or (run.scored_month or "") < month:
            log.info("monthly push of %s waits: that month is not scored yet", month)
            return "not scored yet"
        # Above threshold, minus artists the owner already judged, best first.
        picks = await queries.monthly_candidates(session, month, settings.BREAKOUT_PUSH_MAX)
    owner = settings.TELEGRAM_OWNER_ID
    async with recorded(app, MONTHLY_PUSH, month) as record:
        if record is None:
            return "already pushed"
        sent: list[Message] = []
        try:
            if picks:
                text = messages.PUSH_HEADER.format(month=messages.month_name(month))
                text += render.render_candidates(picks, run, html=True)
                await send_html(app.bot, owner, text, candidate_keyboard(picks), sent)
            else:
                await send_html(
                    app.bot,
                    owner,
                    messages.PUSH_EMPTY.format(month=messages.month_name(month)),
                    None,
                    sent,
                )
        except TelegramError as exc:
            if not sent and _undelivered(exc):
                record.outcome = jobruns.UNDELIVERED
            raise
        record.detail = f"pushed {len(picks)} candidates in {len(sent)} messages"
    _ok(app, MONTHLY_PUSH)
    return record.detail


async def catch_up(app: Application) -> None:
    """At start: close stale runs, run a missed nightly (or at least a sync), a missed push."""
    state = get_state(app)
    async with state.db.sessions() as session, session.begin():
        stale = await jobruns.interrupt_stale(session, now(app))
    for run in stale:
        log.warning("run %s of %s was interrupted by a restart", run.job, run.period)
        if run.job == MONTHLY_PUSH:
            text = messages.PUSH_INTERRUPTED.format(month=escape(run.period))
            await send_html(app.bot, settings_of(app).TELEGRAM_OWNER_ID, text)
    if not await nightly(app):
        report = await run_sync(app)
        if report is not None and report.done and report.mode == "backfill":
            await run_rebuild(app)
        await monthly_push(app)


def in_background(
    work: Callable[[Application], Awaitable[object]],
) -> Callable[[ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """A JobQueue callback that runs `work` as a background task and returns at once.

    PTB's stop() waits for running jobs; a backfill can take many minutes, so the work runs
    in a task that post_shutdown cancels (pages and rebuilds commit atomically). Failures
    still reach the one error handler, with the job attached.
    """

    async def callback(context: ContextTypes.DEFAULT_TYPE) -> None:
        app, job = context.application, context.job

        async def guarded() -> None:
            try:
                await work(app)
            except Exception as exc:  # handed to the error handler, which logs the traceback
                await app.process_error(None, exc, job=job)

        get_state(app).spawn(guarded(), name=job.name if job else "job")

    return callback


def schedule(app: Application, job_queue: JobQueue) -> None:
    """Register the repeating jobs and the start-up catch-up."""
    settings = settings_of(app)
    tz = settings.tz
    interval = timedelta(minutes=settings.BREAKOUT_SYNC_INTERVAL_MINUTES)
    nightly_at = clock_time(settings.BREAKOUT_NIGHTLY_TIME).replace(tzinfo=tz)
    push_at = clock_time(settings.BREAKOUT_MONTHLY_PUSH_TIME).replace(tzinfo=tz)
    job_queue.run_once(in_background(catch_up), when=0, name=STARTUP)
    job_queue.run_repeating(
        in_background(scheduled_sync), interval=interval, first=interval, name=SYNC
    )
    job_queue.run_daily(in_background(nightly), time=nightly_at, name=NIGHTLY)
    job_queue.run_monthly(in_background(monthly_push), when=push_at, day=1, name=MONTHLY_PUSH)


def next_runs(job_queue: JobQueue | None) -> list[tuple[str, datetime]]:
    """(name, next run time) of the scheduled jobs, soonest first."""
    if job_queue is None:
        return []
    runs = [
        (job.name, job.next_t)
        for job in job_queue.jobs()
        if job.next_t and job.name in (SYNC, NIGHTLY, MONTHLY_PUSH)
    ]
    return sorted(runs, key=lambda item: item[1])
