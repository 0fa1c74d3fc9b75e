"""`breakout status` and `breakout db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import json

from bot.config import load_settings
from bot.db.session import Database, upgrade_database_sync
from bot.services.status import collect_status


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
        print(
            f"model:          {model['status']} {model['model_name'] or ''} "
            f"(rebuilt {model['rebuilt_at']}) {model['message']}".rstrip()
        )
    else:
        print("model:          none yet (run `breakout rebuild`)")
    print(status["track_record"])
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """Apply migrations."""
    settings = load_settings()
    upgrade_database_sync(settings.DATABASE_URL)
    print(f"database at {settings.database_path} is up to date")
    return 0
