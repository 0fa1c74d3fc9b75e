"""What is stored, when it was synced, how predictions fared: one read for `status` and /status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import jobruns
from bot.db.models import ModelRun, Scrobble, SyncState
from bot.db.scrobbles import HistoryStats, history_stats
from bot.db.session import Database
from bot.services.record import load_track_record
from bot.timeutil import as_utc
from pipeline.config import PipelineConfig
from pipeline.periods import add_months, month_start
from pipeline.record import TrackRecord
from pipeline.rules import core_need

# Scheduled jobs as a person calls them (job_runs keeps the short names).
JOB_NAMES = {
    "sync": "sync",
    "nightly": "nightly rebuild",
    "monthly_push": "monthly push",
    "digest": "weekly digest",
    "import": "import",
    "startup": "catch-up at start",
}


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z; SQLite hands stored datetimes back without their zone."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Summary:
    """Everything both status views show, read in one session."""

    stats: HistoryStats
    last_sync: datetime | None
    last_error: str | None
    backfill_done: bool | None
    run: ModelRun | None
    record: TrackRecord
    last_jobs: dict[str, tuple[datetime, str]]  # job -> (started at, outcome)


async def load_summary(session: AsyncSession) -> Summary:
    """The summary from one session."""
    stats = await history_stats(session)
    sync = (
        (await session.execute(select(SyncState).order_by(SyncState.last_sync_at.desc())))
        .scalars()
        .first()
    )
    last_sync = (await session.execute(select(func.max(SyncState.last_sync_at)))).scalar()
    run = (
        await session.execute(select(ModelRun).order_by(ModelRun.id.desc()).limit(1))
    ).scalar_one_or_none()
    latest = await jobruns.latest(session)
    return Summary(
        stats,
        as_utc(last_sync),
        sync.last_error if sync else None,
        bool(sync.backfill_done) if sync else None,
        run,
        await load_track_record(session),
        {job: (as_utc(r.started_at), r.outcome) for job, r in latest.items()},
    )


async def month_totals(session: AsyncSession, months: Sequence[str], tz: tzinfo) -> dict[str, int]:
    """Scrobbles in each of `months` (the owner's months; a few, one indexed COUNT each)."""
    out = {}
    for month in months:
        lo, hi = month_start(month, tz), month_start(add_months(month, 1), tz)
        count = select(func.count()).where(Scrobble.ts >= lo, Scrobble.ts < hi)
        out[month] = int((await session.execute(count)).scalar() or 0)
    return out


async def past_core_bars(
    session: AsyncSession, months: Sequence[str], tz: tzinfo, cfg: PipelineConfig
) -> dict[str, int]:
    """Plays that made an artist core in each of the complete `months`."""
    totals = await month_totals(session, months, tz)
    return {month: int(core_need(total, cfg)) for month, total in totals.items()}


def as_json(s: Summary) -> dict[str, object]:
    """The summary as the JSON of `breakout status --json`."""
    run = s.run
    return {
        "scrobbles": s.stats.scrobbles,
        "artists": s.stats.artists,
        "first_scrobble": HistoryStats.iso(s.stats.first_ts),
        "last_scrobble": HistoryStats.iso(s.stats.last_ts),
        "last_sync": iso_utc(s.last_sync),
        "backfill_done": s.backfill_done,
        "track_record": s.record.to_json(),
        "model": None
        if run is None
        else {
            "status": run.status,
            "model_name": run.model_name,
            "threshold": run.threshold,
            "scored_month": run.scored_month,
            "rebuilt_at": iso_utc(run.created_at),
            "message": run.message,
        },
    }


async def collect_status(db: Database) -> dict[str, object]:
    """Everything `status --json` reports."""
    async with db.sessions() as session:
        return as_json(await load_summary(session))
