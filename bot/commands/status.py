"""`breakout status` and `breakout db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import json

from sqlalchemy import func, select

from bot.config import load_settings
from bot.db.models import ModelRun, SyncState
from bot.db.scrobbles import HistoryStats, history_stats
from bot.db.session import Database, upgrade_database_sync


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
        "last_sync": last_sync.isoformat().replace("+00:00", "Z") if last_sync else None,
        "backfill_done": bool(backfill.backfill_done) if backfill else None,
        "model": None
        if run is None
        else {
            "status": run.status,
            "model_name": run.model_name,
            "threshold": run.threshold,
            "scored_month": run.scored_month,
            "rebuilt_at": run.created_at.isoformat(),
            "message": run.message,
        },
    }


async def _status(url: str) -> dict[str, object]:
    async with await Database.open(url) as db:
        return await collect_status(db)


def cmd_status(args: argparse.Namespace) -> int:
    """Print what is stored and when it was synced."""
    settings = load_settings()
    status = asyncio.run(_status(settings.DATABASE_URL))
    if args.json:
        print(json.dumps(status))
        return 0
    print(f"scrobbles:      {status['scrobbles']:,}")
    print(f"artists:        {status['artists']:,}")
    print(f"first scrobble: {status['first_scrobble'] or '-'}")
    print(f"last scrobble:  {status['last_scrobble'] or '-'}")
    print(f"last sync:      {status['last_sync'] or 'never'}")
    model = status["model"]
    if isinstance(model, dict):
        print(
            f"model:          {model['status']} {model['model_name'] or ''} "
            f"(rebuilt {model['rebuilt_at']}) {model['message']}".rstrip()
        )
    else:
        print("model:          none yet (run `breakout rebuild`)")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Apply migrations."""
    settings = load_settings()
    upgrade_database_sync(settings.DATABASE_URL)
    print(f"database at {settings.database_path} is up to date")
    return 0
