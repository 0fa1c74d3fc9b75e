"""`breakout rebuild`, `candidates`, `why` and `demo`."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bot import render
from bot.config import load_settings
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database, database_errors, upgrade_database_sync
from bot.services import queries
from bot.services.rebuild import STAGES, RebuildReport, rebuild
from bot.timeutil import utc_now
from pipeline.simulate import simulate_listener


def print_report(report: RebuildReport) -> None:
    """Stage timings and the outcome of a rebuild."""
    for stage in (s for s in STAGES if s in report.timings):
        print(f"  {stage:<9} {report.timings[stage]:7.2f} s")
    print(f"  {'total':<9} {report.total_seconds:7.2f} s")
    if report.status == "fallback":
        print(f"{report.message} — stored a fallback ranking (run {report.run_id})")
    else:
        how = "trained" if report.trained else "unchanged data, reused the saved model"
        threshold = f"threshold {report.threshold:.3f}"
        print(f"model {report.model_name} ({how}), {threshold}, run {report.run_id}")
    counts = ", ".join(f"{n} in the {w} window" for w, n in report.candidates.items())
    print(f"scored {report.scrobbles:,} scrobbles: {counts}")
    print(f"last complete month: {report.scored_month}")


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Migrate, rebuild, print stage timings and the outcome."""
    settings = load_settings()
    with database_errors("rebuild (the previous candidates and model are kept)"):
        upgrade_database_sync(settings.DATABASE_URL)
        report = rebuild(
            settings.DATABASE_URL, settings.BREAKOUT_MODEL_DIR, tz=settings.BREAKOUT_TIMEZONE
        )
    print_report(report)
    return 0


async def _demo_store(url: str, seed: int, now: datetime) -> int:
    frame = simulate_listener(seed, end=now)
    async with await Database.open(url) as db, db.sessions() as session, session.begin():
        return await store_scrobbles(session, frame)


async def _demo_read(url: str) -> tuple:
    async with await Database.open(url, migrate=False) as db, db.sessions() as session:
        run = await queries.latest_run(session)
        candidates = await queries.current_candidates(session, 10)
        explanation = None
        if candidates:
            explanation = await queries.artist_explanation(session, candidates[0].artist_id)
    return run, candidates, explanation


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline on a simulated listener, in a temporary directory."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="breakout-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.sqlite3'}"
        now = args.now or utc_now()
        stored = asyncio.run(_demo_store(url, args.seed, now))
        print(
            f"simulated listener (seed {args.seed}): {stored:,} scrobbles in a temporary database"
        )
        report = rebuild(url, Path(tmp) / "models", now=now)
        print_report(report)
        run, candidates, explanation = asyncio.run(_demo_read(url))
        print()
        print(render.render_candidates(candidates, run, html=False))
        if explanation is not None:
            print()
            print(f"$ breakout why {explanation.artist}")
            print(render.render_explanation(explanation, html=False))
    print(f"\ndemo finished in {time.perf_counter() - started:.1f} s (nothing was kept)")
    print(
        "your own history: `breakout import FILE`, or set LISTENS_SOURCE (lastfm: LASTFM_API_KEY"
        " + LASTFM_USERNAME; listenbrainz: LISTENBRAINZ_USERNAME) and run `breakout sync`"
    )
    return 0
