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
from bot.services.record import load_track_record
from bot.timeutil import utc_now
from pipeline.record import TrackRecord


async def _load(url: str) -> tuple[TrackRecord, int]:
    """The track record to show and how many scrobbles are stored."""
    async with await Database.open(url) as db, db.sessions() as session:
        record = await load_track_record(session)
        scrobbles = (await session.execute(text("SELECT COUNT(*) FROM scrobbles"))).scalar_one()
    return record, int(scrobbles)


def _backtest(url: str) -> None:
    """Compute and store the backtest track record (heavy imports only on this path)."""
    from bot.db.scrobbles import load_scrobbles
    from bot.db.session import make_sync_engine
    from bot.services.rebuild import refresh_backtest_record
    from pipeline.config import PipelineConfig

    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            refresh_backtest_record(
                conn, load_scrobbles(conn), int(utc_now().timestamp()), PipelineConfig()
            )
    finally:
        engine.dispose()


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
        _backtest(settings.DATABASE_URL)
        record, _ = asyncio.run(_load(settings.DATABASE_URL))
    if args.json:
        print(json.dumps(record.to_json(), ensure_ascii=False))
    else:
        print(render.render_track_record(record, html=False))
    return 0
