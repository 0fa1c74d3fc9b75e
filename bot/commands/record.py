"""`breakout record`: how past predictions turned out (live, or a backtest before any resolved)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from sqlalchemy import text

from bot import render
from bot.config import load_settings
from bot.db.session import Database
from bot.services.record import build_backtest_record, load_track_record
from bot.timeutil import utc_now
from pipeline.record import TrackRecord


async def _load(url: str) -> tuple[TrackRecord, bool]:
    """The track record to show and, when there is none, whether any scrobble is stored."""
    async with await Database.open(url) as db, db.sessions() as session:
        record = await load_track_record(session)
        if record.source != "none":
            return record, True
        any_scrobble = await session.execute(text("SELECT 1 FROM scrobbles LIMIT 1"))
        return record, any_scrobble.first() is not None


def cmd_record(args: argparse.Namespace) -> int:
    """Print the track record; compute the backtest one first when nothing else exists."""
    settings = load_settings()
    record, scrobbles = asyncio.run(_load(settings.DATABASE_URL))
    if record.source == "none" and scrobbles:
        print(
            "no resolved predictions yet: backtesting your history once "
            "(what I would have said each month; this takes a while)...",
            file=sys.stderr,
        )
        build_backtest_record(settings.DATABASE_URL, utc_now())
        record, _ = asyncio.run(_load(settings.DATABASE_URL))
    if args.json:
        print(json.dumps(record.to_json(), ensure_ascii=False))
    else:
        print(render.render_track_record(record, html=False))
    return 0
