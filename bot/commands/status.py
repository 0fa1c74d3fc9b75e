"""`breakout status` and `breakout db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import json

from bot import render
from bot.config import load_settings
from bot.db.session import Database, upgrade_database_sync
from bot.services.status import collect_status
from pipeline.record import TrackRecord


async def _status(url: str) -> dict[str, object]:
    async with await Database.open(url) as db:
        return await collect_status(db)


def cmd_status(args: argparse.Namespace) -> int:
    """Print what is stored and when it was synced."""
    settings = load_settings()
    status = asyncio.run(_status(settings.DATABASE_URL))
    status["source"] = {
        "name": settings.LISTENS_SOURCE,
        "username": settings.source_username,
        "configured": settings.source_configured(),
    }
    if args.json:
        print(json.dumps(status))
        return 0
    user = settings.source_username
    print(
        f"source:         {settings.source_name}" + (f" ({user})" if user else " (not configured)")
    )
    print(f"scrobbles:      {status['scrobbles']:,}")
    print(f"artists:        {status['artists']:,}")
    print(f"first scrobble: {status['first_scrobble'] or '-'}")
    print(f"last scrobble:  {status['last_scrobble'] or '-'}")
    print(f"last sync:      {status['last_sync'] or 'never'}")
    model = status["model"]
    if isinstance(model, dict):
        kind = model["model_name"] if model["status"] == "model" else None
        note = f" {model['message']}" if model["message"] else ""
        print(f"model:          {kind or 'fallback ranking'} (rebuilt {model['rebuilt_at']}){note}")
    else:
        print("model:          none yet (run `breakout rebuild`)")
    record = status["track_record"]
    print(render.record_line(TrackRecord.from_json(record)) if isinstance(record, dict) else "")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Apply migrations."""
    settings = load_settings()
    upgrade_database_sync(settings.DATABASE_URL)
    print(f"database at {settings.database_path} is up to date")
    return 0
