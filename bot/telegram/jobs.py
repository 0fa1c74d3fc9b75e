"""Scheduling and the messages scheduled work sends; the work itself is in bot/services.

The monthly push is at-most-once: its (monthly_push, YYYY-MM) row is committed before the
first message is sent, so a restart never sends a month twice. If the process dies between
the claim and the send, the row stays `running`, becomes `interrupted` at the next start,
and the owner is told in one line. Only a failure that provably delivered nothing (Telegram
refused the request, e.g. "chat not found" before the owner ever wrote, or no connection
was made) marks the row `undelivered`: it is sent again after the owner's next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from html import escape
from typing import TypeVar

from telegram import Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, JobQueue

from bot import render
from bot.db import jobruns
from bot.db.scrobbles import history_stats
from bot.lastfm.sync import SyncReport
from bot.services import moments, orchestration, push
from bot.services.digest import build_digest
from bot.services.orchestration import DIGEST, MONTHLY_PUSH, NIGHTLY, STARTUP, SYNC
from bot.services.runtime import Runtime, SyncProgress
from bot.telegram import messages
from bot.telegram.candidates import candidates_page
from bot.telegram.keyboards import candidate_keyboard
from bot.telegram.send import send_html
from bot.telegram.state import Context, get_state, settings_of
from bot.timeutil import clock_time, in_words, month_name

log = logging.getLogger(__name__)
T = TypeVar("T")
ONBOARDING_EVERY = 5.0  # seconds between edits of the backfill progress message
MOMENTS_ONE_BY_ONE = 2  # more breakouts at once come in one message

__all__ = ["DIGEST", "MONTHLY_PUSH", "NIGHTLY", "STARTUP", "SYNC"]


def _undelivered(exc: TelegramError) -> bool:
    """True when the error proves Telegram did not deliver the message.

    Telegram refused it (bad request, blocked, still rate limited after the retries) or no
    connection was made. A timeout or a connection lost mid-request may have delivered it.
    """
    if isinstance(exc, BadRequest | Forbidden | RetryAfter):
        return True
    return isinstance(exc, NetworkError) and "ConnectError" in exc.message


async def monthly_push(app: Application, month: str | None = None) -> str:
    """Push the month due now (or `month`): picks, minus judged artists, at most once ever."""
    rt = get_state(app)
    plan = await push.plan_push(rt, month)
    if plan.state == push.NOT_SCORED:
        log.info("monthly push of %s waits: that month is not scored yet", plan.month)
    if plan.state != push.READY:
        return plan.state
    async with orchestration.recorded(rt, MONTHLY_PUSH, plan.month) as record:
        if record is None:
            return push.ALREADY
        sent: list[Message] = []
        text = render.render_push(plan.month, plan.picks, plan.run, plan.previous)
        try:
            await send_html(
                app.bot, rt.settings.TELEGRAM_OWNER_ID, text, candidate_keyboard(plan.picks), sent
            )
        except TelegramError as exc:
            if sent or not _undelivered(exc):
                raise
            # The expected case before the owner's first message ("Chat not found"): one
            # line, no traceback; it is sent again after the owner writes.
            record.outcome, record.detail = jobruns.UNDELIVERED, str(exc)
            rt.push_pending = True
            log.info(
                "monthly push of %s not delivered (%s); sent after your next message",
                plan.month,
                exc,
            )
            return jobruns.UNDELIVERED
        record.detail = f"pushed {len(plan.picks)} candidates in {len(sent)} messages"
    rt.push_pending = False
    rt.failing.discard(MONTHLY_PUSH)
    return record.detail


async def resend_undelivered(app: Application) -> None:
    """After the owner's message: send the pushes Telegram provably did not deliver."""
    rt = get_state(app)
    rt.push_pending = False
    async with rt.db.sessions() as session:
        months = await jobruns.periods_with(session, MONTHLY_PUSH, jobruns.UNDELIVERED)
    for month in months:
        await monthly_push(app, month)


async def announce_moments(app: Application) -> int:
    """Artists that just became core for the first time: one message each (or one for many)."""
    rt = get_state(app)
    fresh = await moments.claim_moments(rt)
    texts = [render.render_moment(b, rt.settings.tz) for b in fresh]
    if len(texts) > MOMENTS_ONE_BY_ONE:
        texts = [messages.MOMENTS_MANY.format(n=len(texts)) + "\n\n" + "\n\n".join(texts)]
    outcome = moments.SENT
    try:
        for text in texts:
            await send_html(app.bot, rt.settings.TELEGRAM_OWNER_ID, text)
    except TelegramError as exc:
        outcome = moments.UNDELIVERED
        log.warning("breakout moments not delivered: %s", exc)
    async with rt.db.sessions() as session, session.begin():
        for b in fresh:
            await moments.mark_moment(session, b.artist_id, outcome)
    return len(fresh)


async def after_sync(app: Application, report: SyncReport | None) -> None:
    """After a sync run elsewhere (/sync): the services' follow-up, then what it brought."""
    await announce_sync(app, await orchestration.refresh_after_sync(get_state(app), report))


async def announce_sync(app: Application, outcome: orchestration.SyncOutcome) -> None:
    """The first backfill's done message; breakout moments of a rescore or rebuild."""
    if outcome.first_backfill:
        await onboarding_done(app)
    if outcome.scored is not None:
        await announce_moments(app)
    await orchestration.ensure_track_record(get_state(app))


async def onboarding_done(app: Application) -> None:
    """The backfill finished: say so, with the first candidates (after the owner's first
    message when Telegram does not know the chat yet)."""
    rt = get_state(app)
    async with rt.db.sessions() as session:
        stats = await history_stats(session)
    done = messages.ONBOARDING_DONE.format(scrobbles=stats.scrobbles, artists=stats.artists)
    text, keyboard = await candidates_page(rt, 0)
    rt.onboarding_pending = False
    try:
        await app.bot.send_message(
            rt.settings.TELEGRAM_OWNER_ID, f"{done}\n\n{text}", reply_markup=keyboard
        )
    except TelegramError as exc:
        rt.onboarding_pending = _undelivered(exc)
        log.warning("could not send the onboarding message: %s", exc)


def _progress_text(source: str, p: SyncProgress) -> str:
    """The onboarding message: pages and time left, then how the backfill ended."""
    if p.running:
        pages = f"page {p.pages_done} of {p.total_pages}" if p.total_pages else "starting"
        left = p.seconds_left()
        eta = f", {in_words(left)} left" if left is not None else ""
        return messages.ONBOARDING.format(source=source, pages=pages, eta=eta)
    if p.complete:
        return messages.ONBOARDING_FINISHED.format(source=source, pages=p.total_pages)
    return messages.ONBOARDING_STOPPED.format(source=source, page=p.pages_done)


async def watch_backfill(app: Application) -> None:
    """While the first backfill runs: one progress message, edited with pages and the time
    left, and "✅ done" at the end. Until the owner has written once Telegram answers "chat
    not found": the message is tried again every few seconds."""
    rt = get_state(app)
    message: Message | None = None
    shown = ""
    source = rt.source.name if rt.source else rt.settings.source_name
    progress = rt.progress
    if progress.mode != "backfill":
        return
    waiting = False  # Telegram does not know the chat yet
    while True:
        text = _progress_text(source, progress)
        try:
            if message is None:
                message = await app.bot.send_message(rt.settings.TELEGRAM_OWNER_ID, text)
            elif text != shown:
                await message.edit_text(text)
            shown = text
        except TelegramError as exc:
            if message is not None or not _undelivered(exc):
                log.info("backfill progress not shown: %s", exc)
                return
            if not waiting:
                log.info("backfill progress waits for the owner's first message: %s", exc)
            waiting = True
        if not progress.running:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(progress.finished.wait(), ONBOARDING_EVERY)


async def sync_job(app: Application) -> None:
    """Every N minutes: orchestration.scheduled_sync (skipped while a sync runs), then its news."""
    rt = get_state(app)
    if rt.sync_lock.locked():
        log.info("sync still running; skipping this slot")
        return
    await announce_sync(app, await _synced(app, orchestration.scheduled_sync(rt)))


async def _synced(app: Application, work: Awaitable[T]) -> T:
    """Run a sync; the first backfill gets a progress message while it runs."""
    rt = get_state(app)
    watcher = None
    if not await orchestration.backfill_done(rt) and rt.source is not None:
        watcher = rt.spawn(_watch_soon(app), name="backfill progress")
    try:
        return await work
    finally:
        if watcher is not None:
            watcher.cancel()


async def _watch_soon(app: Application) -> None:
    for _ in range(100):  # the sync marks itself running right after taking the lock
        if get_state(app).progress.running:
            break
        await asyncio.sleep(0.05)
    await watch_backfill(app)


async def nightly_job(app: Application) -> bool:
    """orchestration.nightly, then moments and the push (a push of a month not scored waits)."""
    rt = get_state(app)
    ran = await orchestration.nightly(rt)
    if ran:
        await announce_moments(app)
    await monthly_push(app)
    return ran


async def weekly_digest(app: Application) -> str:
    """On Mondays, when turned on: new discoveries, who is rising, who broke out."""
    rt = get_state(app)
    digest = await build_digest(rt)
    if digest is None:
        return "turned off"
    week = rt.local_now().strftime("%G-W%V")
    async with orchestration.recorded(rt, DIGEST, week) as record:
        if record is None:
            return "already sent"
        await send_html(app.bot, rt.settings.TELEGRAM_OWNER_ID, render.render_digest(digest))
        record.detail = "sent"
    return "sent"


async def catch_up(app: Application) -> None:
    """At start: close stale runs, run a missed nightly (or at least a sync), a missed push."""
    rt = get_state(app)
    async with rt.db.sessions() as session, session.begin():
        stale = await jobruns.interrupt_stale(session, rt.now())
        pending = await jobruns.periods_with(session, MONTHLY_PUSH, jobruns.UNDELIVERED)
    rt.push_pending = bool(pending)
    for run in stale:
        log.warning("run %s of %s was interrupted by a restart", run.job, run.period)
        if run.job == MONTHLY_PUSH:
            text = messages.PUSH_INTERRUPTED.format(month=escape(month_name(run.period)))
            await send_html(app.bot, settings_of(app).TELEGRAM_OWNER_ID, text)
    if not await _synced(app, _nightly_or_sync(app)):
        await monthly_push(app)
    await orchestration.ensure_track_record(get_state(app))


async def _nightly_or_sync(app: Application) -> bool:
    rt = get_state(app)
    first = rt.source is not None and not await orchestration.backfill_done(rt)
    if await orchestration.nightly(rt):
        if first and await orchestration.backfill_done(rt):
            await onboarding_done(app)
        await announce_moments(app)
        await monthly_push(app)
        return True
    await announce_sync(app, await orchestration.scheduled_sync(rt))
    return False


def in_background(
    work: Callable[[Application], Awaitable[object]],
) -> Callable[[Context], Awaitable[None]]:
    """A JobQueue callback that runs `work` as a background task and returns at once.

    PTB's stop() waits for running jobs; a backfill can take many minutes, so the work runs
    in a task that post_shutdown cancels (pages and rebuilds commit atomically). Failures
    still reach the one error handler, with the job attached.
    """

    async def callback(context: Context) -> None:
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
    job_queue.run_repeating(in_background(sync_job), interval=interval, first=interval, name=SYNC)
    job_queue.run_daily(in_background(nightly_job), time=nightly_at, name=NIGHTLY)
    job_queue.run_monthly(in_background(monthly_push), when=push_at, day=1, name=MONTHLY_PUSH)
    job_queue.run_daily(in_background(weekly_digest), time=push_at, days=(1,), name=DIGEST)


def next_runs(app: Application) -> list[tuple[str, object]]:
    """(name, next run time) of the scheduled jobs, soonest first."""
    job_queue = app.job_queue
    if job_queue is None:
        return []
    runs = [
        (job.name, job.next_t)
        for job in job_queue.jobs()
        if job.next_t and job.name in (SYNC, NIGHTLY, MONTHLY_PUSH)
    ]
    return sorted(runs, key=lambda item: item[1])


def owner_wrote(rt: Runtime, app: Application) -> None:
    """Called by the guard on each owner update: a push or the onboarding message waiting
    for the chat is sent now."""
    if rt.push_pending:
        rt.push_pending = False
        rt.spawn(resend_undelivered(app), name="undelivered push")
    if rt.onboarding_pending:
        rt.onboarding_pending = False
        rt.spawn(onboarding_done(app), name="onboarding message")
