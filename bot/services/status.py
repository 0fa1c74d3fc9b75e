"""What is stored, when it was synced and which model scored last: for `status` and /status."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.db.models import ModelRun, SyncState
from bot.db.scrobbles import HistoryStats, history_stats
from bot.db.session import Database


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z; SQLite hands stored datetimes back without their zone."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def collect_status(db: Database) -> dict[str, object]:
    """Everything `status` reports, as a JSON-ready dict."""
    async with db.sessions() as session:
        stats = await history_stats(session)
        last_sync = (await session.execute(select(func.max(SyncState.last_sync_at)))).scalar()
        backfill = (await session.execute(select(SyncState))).scalars().first()
        run = (
            await session.execute(select(ModelRun).order_by(ModelRun.id.desc()).limit(1))
        ).scalar_one_or_none()
    return {
        "scrobbles": stats.scrobbles,
        "artists": stats.artists,
        "first_scrobble": HistoryStats.iso(stats.first_ts),
        "last_scrobble": HistoryStats.iso(stats.last_ts),
        "last_sync": iso_utc(last_sync),
        "backfill_done": bool(backfill.backfill_done) if backfill else None,
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
