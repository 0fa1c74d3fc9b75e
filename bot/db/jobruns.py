"""Bookkeeping of scheduled job runs: each (job, period) is claimed at most once."""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import JobRun

RUNNING, OK, ERROR, INTERRUPTED = "running", "ok", "error", "interrupted"
# A run that failed before anything reached the user: its period may be claimed again.
UNDELIVERED = "undelivered"
# A `breakout import` in progress: its detail is the highest scrobble id before it began,
# and readers of scrobbles see nothing above that id until the import finishes.
IMPORT = "import"
# Outcomes a new claim may take over: nothing reached the user (any job), and, for jobs that
# are safe to repeat (the nightly sync + rebuild), a run a restart cut short.
RETAKE = (UNDELIVERED,)
RETAKE_REPEATABLE = (UNDELIVERED, INTERRUPTED)


async def claim(
    session: AsyncSession,
    job: str,
    period: str,
    now: datetime,
    retake: tuple[str, ...] = RETAKE,
) -> int | None:
    """Insert the (job, period) row; its id, or None when that period was already claimed.

    Commit the session before doing the work so that a second claim, even after a restart,
    sees the row: this is what makes the monthly push at-most-once. Only a row whose outcome
    is in `retake` (by default UNDELIVERED: nothing reached the user) is taken over.
    """
    values = {"started_at": now, "outcome": RUNNING, "detail": "", "finished_at": None}
    stmt = insert(JobRun).values(job=job, period=period, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["job", "period"], set_=values, where=JobRun.outcome.in_(retake)
    ).returning(JobRun.id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def finish(
    session: AsyncSession, run_id: int, outcome: str, detail: str, now: datetime
) -> None:
    """Record how a claimed run ended."""
    await session.execute(
        update(JobRun)
        .where(JobRun.id == run_id)
        .values(outcome=outcome, detail=detail[:2000], finished_at=now)
    )


async def get(session: AsyncSession, job: str, period: str) -> JobRun | None:
    """The run of `job` for `period`, if any."""
    stmt = select(JobRun).where(JobRun.job == job, JobRun.period == period)
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest(session: AsyncSession) -> dict[str, JobRun]:
    """The most recent run of every job."""
    newest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    rows = await session.execute(select(JobRun).join(newest, JobRun.id == newest.c.id))
    return {run.job: run for run in rows.scalars()}


async def interrupt_stale(session: AsyncSession, now: datetime) -> list[JobRun]:
    """Mark runs left `running` by a previous process as interrupted; return them.

    Only one bot process runs per database, so at start-up every `running` row is stale.
    Imports run in CLI processes: only those whose process is gone are closed (silently).
    """
    await close_dead_imports(session, now)
    running = (JobRun.outcome == RUNNING) & (JobRun.job != IMPORT)  # imports are the CLI's
    stale = list((await session.execute(select(JobRun).where(running))).scalars())
    if stale:
        await session.execute(
            update(JobRun)
            .where(running)
            .values(outcome=INTERRUPTED, finished_at=now, detail="the bot stopped during the run")
        )
    return stale


async def begin_import(session: AsyncSession, now: datetime, watermark: int) -> int:
    """Record an import starting in this process; scrobbles above `watermark` stay hidden."""
    period = f"{now.isoformat()} pid {os.getpid()}"
    stmt = insert(JobRun).values(
        job=IMPORT, period=period, started_at=now, outcome=RUNNING, detail=str(watermark)
    )
    return (await session.execute(stmt.returning(JobRun.id))).scalar_one()


def _alive(period: str) -> bool:
    pid = int(period.rsplit(" pid ", 1)[-1]) if " pid " in period else 0
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def close_dead_imports(session: AsyncSession, now: datetime) -> int:
    """Mark imports whose process is gone (kill -9) as interrupted; their rows show again."""
    rows = await session.execute(
        select(JobRun.id, JobRun.period).where(JobRun.job == IMPORT, JobRun.outcome == RUNNING)
    )
    dead = [run_id for run_id, period in rows.all() if not _alive(period)]
    if dead:
        await session.execute(
            update(JobRun)
            .where(JobRun.id.in_(dead))
            .values(outcome=INTERRUPTED, finished_at=now, detail="the import process died")
        )
    return len(dead)


async def prune(session: AsyncSession, job: str, before: datetime) -> int:
    """Delete finished runs of `job` started before `before` (frequent jobs only)."""
    result = await session.execute(
        delete(JobRun).where(
            JobRun.job == job, JobRun.started_at < before, JobRun.outcome != RUNNING
        )
    )
    return int(result.rowcount or 0)


async def periods_with(session: AsyncSession, job: str, outcome: str) -> list[str]:
    """Periods of `job` whose run ended with `outcome`, oldest first."""
    rows = await session.execute(
        select(JobRun.period)
        .where(JobRun.job == job, JobRun.outcome == outcome)
        .order_by(JobRun.period)
    )
    return list(rows.scalars())
