"""The scheduled use cases, each defined once and recorded in job_runs; no Telegram in here.

- a sync (every N minutes, /sync, start-up catch-up) → `refresh_after_sync`: the sync that
  completes the first backfill is rebuilt once (with the backtest track record); any other sync
  that stored plays is rescored with the stored model (no training), so the list, the status and
  the cards follow today's plays; breakout moments are then claimed from what it stored.
- the nightly run → sync, rebuild (may retrain), metadata, backup.
`bot/telegram/jobs.py` only schedules these and sends what they produced.
Every run is a row in job_runs, claimed before the work starts (see jobruns.claim).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.db import jobruns
from bot.db.models import SyncState
from bot.errors import SourceError
from bot.lastfm.sync import SyncConflict, SyncReport
from bot.services import backup
from bot.services import record as track_records
from bot.services.runtime import Runtime, SyncProgress
from bot.timeutil import clock_time, nightly_period
from pipeline.config import PipelineConfig

if TYPE_CHECKING:
    from bot.services.rebuild import RebuildReport

log = logging.getLogger(__name__)

SYNC, NIGHTLY, MONTHLY_PUSH, DIGEST, STARTUP = (
    "sync",
    "nightly",
    "monthly_push",
    "digest",
    "startup",
)
KEEP_SYNC_RUNS = timedelta(days=30)


@dataclass
class SyncOutcome:
    """A sync and the scoring that followed it."""

    report: SyncReport | None  # None: no source configured, or the slot was already taken
    scored: RebuildReport | None = None  # the rebuild or rescore that followed, if any
    first_backfill: bool = False  # this sync completed the first walk over the history


@dataclass
class Record:
    """Outcome and detail a job fills in while it runs."""

    outcome: str = jobruns.OK
    detail: str = ""


def sync_period(rt: Runtime) -> str:
    """Key of a sync run: UTC, since local clock times repeat when the clocks go back."""
    return rt.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@asynccontextmanager
async def recorded(
    rt: Runtime, job: str, period: str, retake: tuple[str, ...] = jobruns.RETAKE
) -> AsyncIterator[Record | None]:
    """Claim (job, period) in its own committed transaction; yield None if already claimed."""
    async with rt.db.sessions() as session, session.begin():
        run_id = await jobruns.claim(session, job, period, rt.now(), retake)
    if run_id is None:
        yield None
        return
    record = Record()
    try:
        yield record
    except BaseException as exc:
        outcome = jobruns.INTERRUPTED if isinstance(exc, asyncio.CancelledError) else record.outcome
        outcome = jobruns.ERROR if outcome == jobruns.OK else outcome
        async with rt.db.sessions() as session, session.begin():
            await jobruns.finish(session, run_id, outcome, f"{type(exc).__name__}: {exc}", rt.now())
        raise
    async with rt.db.sessions() as session, session.begin():
        await jobruns.finish(session, run_id, record.outcome, record.detail, rt.now())


async def backfill_done(rt: Runtime) -> bool:
    """True once a walk over the owner's whole history at the source has completed."""
    if rt.source is None:
        async with rt.db.sessions() as session:
            state = (await session.execute(select(SyncState))).scalars().first()
    else:
        async with rt.db.sessions() as session:
            state = await session.get(SyncState, rt.source.state_key)
    return bool(state and state.backfill_done)


async def run_sync(rt: Runtime, *, full: bool = False) -> SyncReport | None:
    """One sync of the source (backfill, resume or incremental; `full` re-reads everything)
    under the sync lock; None if off."""
    if rt.source is None:
        return None
    async with rt.sync_lock:
        mode = "sync" if await backfill_done(rt) else "backfill"
        progress = rt.progress = SyncProgress(running=True, mode=mode)
        try:
            report = await rt.source.sync(rt.db.sessions, full=full, progress=progress.page_done)
            progress.complete = report.done
        finally:
            progress.finish()
        progress.mode, progress.last_summary = report.mode, report.message or report.summary()
    log.info("%s", progress.last_summary)
    return report


async def run_rebuild(rt: Runtime, *, track_record: bool = False) -> RebuildReport:
    """Features, training when needed and scoring, off the event loop, one at a time.

    `track_record`: also refresh the backtest track record that /record shows until live
    predictions resolve (the nightly run and the first backfill; seconds of extra work).
    """
    return await _in_worker(rt, track_record=track_record, retrain=True)


async def run_rescore(rt: Runtime) -> RebuildReport:
    """Score with the stored model, never training (about a second), off the event loop."""
    return await _in_worker(rt, track_record=False, retrain=False)


async def _in_worker(rt: Runtime, *, track_record: bool, retrain: bool) -> RebuildReport:
    """One rebuild or rescore at a time, in a worker thread, at the Runtime's clock."""
    async with rt.rebuild_lock:
        return await asyncio.to_thread(
            _rebuild,
            rt.db.url,
            rt.settings.BREAKOUT_MODEL_DIR,
            PipelineConfig(),
            rt.now(),
            rt.settings.BREAKOUT_TIMEZONE,
            track_record=track_record,
            retrain=retrain,
        )


async def ensure_track_record(rt: Runtime) -> bool:
    """Build the backtest track record in a worker thread when /record would show nothing
    (a first start on an imported history, a nightly run a restart cut short)."""
    async with rt.db.sessions() as session:
        if not await track_records.backtest_missing(session):
            return False
    async with rt.rebuild_lock:
        log.info("building the track record (a backtest of the stored history)")
        return await asyncio.to_thread(track_records.build_backtest_record, rt.db.url, rt.now())


def _rebuild(
    url: str,
    model_dir: Path,
    cfg: PipelineConfig,
    now: datetime,
    tz: str,
    *,
    track_record: bool,
    retrain: bool,
) -> RebuildReport:
    """The rebuild in the owner's months, imported in this worker thread (seconds of imports)."""
    from bot.services.rebuild import rebuild

    return rebuild(url, model_dir, cfg, now, tz=tz, track_record=track_record, retrain=retrain)


def follow_up(report: SyncReport | None) -> str | None:
    """What a sync calls for: "rebuild" after the first backfill, "rescore" after new plays."""
    if report is None or not report.done:
        return None
    if report.mode == "backfill":
        return "rebuild"
    return "rescore" if report.new else None


async def refresh_after_sync(rt: Runtime, report: SyncReport | None) -> SyncOutcome:
    """What follows a completed sync in the bot (`follow_up`); `breakout sync` only rescores."""
    step = follow_up(report)
    if step == "rebuild":
        return SyncOutcome(report, await run_rebuild(rt, track_record=True), True)
    if step == "rescore":
        return SyncOutcome(report, await run_rescore(rt))
    return SyncOutcome(report)


async def prefetch_metadata(rt: Runtime) -> str:
    """Tags and listeners of the new candidates after a rebuild; a failure is logged, not fatal."""
    if rt.fetcher is None:
        return ""
    from bot.services.metadata import prefetch_candidates

    try:
        async with rt.db.sessions() as session:
            found = await prefetch_candidates(session, rt.fetcher)
    except Exception as exc:  # metadata is decoration: the nightly run goes on without it
        log.warning("metadata prefetch failed: %s", exc)
        return "metadata prefetch failed"
    return f"metadata for {found} candidates"


async def scheduled_sync(rt: Runtime) -> SyncOutcome:
    """One recorded sync (every N minutes, or at start), then `refresh_after_sync`."""
    async with recorded(rt, SYNC, sync_period(rt)) as record:
        if record is None:
            return SyncOutcome(None)
        report = await run_sync(rt)
        if report is None:
            record.detail = f"{rt.settings.source_name} not configured"
            return SyncOutcome(None)
        record.detail = report.message
        if not report.done:
            # Network trouble: logged, and the next run resumes where this one stopped.
            record.outcome = jobruns.ERROR
            log.warning("sync interrupted: %s", report.message)
    rt.failing.discard(SYNC)
    return await refresh_after_sync(rt, report)


async def nightly(rt: Runtime) -> bool:
    """Sync + rebuild for the current nightly slot unless it already ran (a run a restart
    cut short runs again)."""
    period = nightly_period(rt.local_now(), clock_time(rt.settings.BREAKOUT_NIGHTLY_TIME))
    async with recorded(rt, NIGHTLY, period, jobruns.RETAKE_REPEATABLE) as record:
        if record is None:
            return False
        details = []
        try:
            report = await run_sync(rt)
            details.append(
                report.message if report else f"{rt.settings.source_name} not configured"
            )
        except (SourceError, SyncConflict) as exc:
            # The rebuild still runs on what is stored; the sync job reports the failure.
            log.warning("nightly sync failed: %s", exc)
            details.append(f"sync failed: {exc}")
        built = await run_rebuild(rt, track_record=True)
        details.append(built.summary())
        details.append(await prefetch_metadata(rt))
        details.append(await backup.nightly_step(rt.settings))
        record.detail = "; ".join(d for d in details if d)
        async with rt.db.sessions() as session, session.begin():
            await jobruns.prune(session, SYNC, rt.now() - KEEP_SYNC_RUNS)
    rt.failing.discard(NIGHTLY)
    return True
