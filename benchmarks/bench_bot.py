"""/candidates latency of the real bot against the fake Telegram server, idle and during a rebuild.

Latency = update queued in the fake -> the bot's sendMessage received by the fake.
From the project root:

    python ../shared/bench/scale_history.py \\
        ../shared/data/histories/music-stats.csv 10 /tmp/1m.csv
    DATABASE_URL=sqlite+aiosqlite:////tmp/bench1m/db.sqlite3 breakout import /tmp/1m.csv
    uv run python benchmarks/bench_bot.py /tmp/bench1m/db.sqlite3 --models /tmp/bench1m/models

When the newest run has no candidates (an old history scored at today's date), the script
first rebuilds once as of the day after the last scrobble, so /candidates has a full list.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.db.session import Database
from bot.services.rebuild import rebuild

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package
from tests.bot_harness import OWNER, Clock, bot_settings, running
from tests.fakes.telegram_server import FakeTelegram


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def one_candidates(fake: FakeTelegram) -> float:
    """Queue /candidates and return seconds until the reply reaches the fake."""
    start = fake.mark()
    update_id = fake.send_text(OWNER, "/candidates")
    reply = await fake.wait_for("sendMessage", start=start, within=30)
    return reply.at - fake.injected_at[update_id]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name}: n={len(ms)} median {statistics.median(ms):.1f} ms, "
        f"p95 {percentile(ms, 0.95):.1f} ms, max {max(ms):.1f} ms"
    )


async def scalar_row(url: str, query: str) -> tuple:
    """One row of one query."""
    async with Database(url) as db, db.sessions() as session:
        return tuple((await session.execute(text(query))).one())


async def bench(db_path: Path, models: Path, idle_runs: int) -> None:
    url = f"sqlite+aiosqlite:///{db_path}"
    data_dir = db_path.parent
    last_ts, count = await scalar_row(url, "SELECT MAX(ts), COUNT(*) FROM scrobbles")
    as_of = datetime.fromtimestamp(last_ts, UTC) + timedelta(days=1)
    (cands,) = await scalar_row(
        url, "SELECT COUNT(*) FROM candidates WHERE run_id = (SELECT MAX(id) FROM model_runs)"
    )
    if not cands:
        started = time.perf_counter()
        report = await asyncio.to_thread(rebuild, url, models, None, as_of)
        took = time.perf_counter() - started
        print(f"rebuilt as of {as_of:%Y-%m-%d}: {report.summary()} ({took:.1f} s)")
    print(f"history: {count:,} scrobbles, last {datetime.fromtimestamp(last_ts, UTC):%Y-%m-%d}")

    fake = FakeTelegram().start()
    fake.known_chats.add(OWNER)
    settings = bot_settings(
        fake, data_dir, DATABASE_URL=url, BREAKOUT_MODEL_DIR=models, LOG_LEVEL="WARNING"
    )
    try:
        async with running(settings, Clock(as_of)):
            await one_candidates(fake)  # warm-up: connections, first query plans
            idle = [await one_candidates(fake) for _ in range(idle_runs)]
            print(summary("idle", idle))

            started = time.perf_counter()
            # The heavier nightly case: a full retrain, in a worker thread like run_rebuild.
            rebuilding = asyncio.create_task(
                asyncio.to_thread(rebuild, url, models, None, as_of, True)
            )
            busy: list[float] = []
            while not rebuilding.done():
                busy.append(await one_candidates(fake))
            report = await rebuilding
            took = time.perf_counter() - started
            print(f"rebuild during the test: {report.summary()} ({took:.1f} s)")
            print(summary("during rebuild", busy))
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path, help="SQLite file with the imported history")
    parser.add_argument("--models", type=Path, required=True, help="model directory")
    parser.add_argument("--runs", type=int, default=100, help="idle /candidates requests")
    args = parser.parse_args()
    asyncio.run(bench(args.db.resolve(), args.models.resolve(), args.runs))


if __name__ == "__main__":
    main()
