"""Benchmark: a 2,000,000-row import while another process writes like the bot's button presses.

Reports the import's wall time, how long each of its batches held SQLite's write lock
(median, max), and the latency of every "press" (a write retried while busy, as the bot's
Confirm/Dismiss does) in a second process. Every press must be stored.

    uv run python benchmarks/bench_busy_import.py [--rows 2000000] [--runs 1]

The suite runs the same scenario end to end through the real bot at 150,000 rows
(tests/test_busy_bot.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bot.db.scrobbles import import_scrobbles  # noqa: E402
from bot.db.session import Database  # noqa: E402
from tests.test_db_hardening import history  # noqa: E402

PRESSER = """
import asyncio, json, sys, time
from sqlalchemy import text
from bot.db.session import Database, write_with_retry

async def main(url, stop_file, out):
    latencies = []
    async with Database(url) as db:
        n = 0
        while not __import__("os").path.exists(stop_file):
            began = time.perf_counter()
            await write_with_retry(
                db.sessions,
                lambda s, n=n: s.execute(text("INSERT INTO bench_presses VALUES (:n)"), {"n": n}),
                deadline=30,
            )
            latencies.append(time.perf_counter() - began)
            n += 1
            await asyncio.sleep(0.2)
    json.dump(latencies, open(out, "w"))

asyncio.run(main(*sys.argv[1:]))
"""


async def run_once(rows: int, directory: Path) -> dict[str, float]:
    url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
    frame = history(rows, artists=20_000)
    async with await Database.open(url) as db:
        async with db.sessions() as session, session.begin():
            await session.execute(text("CREATE TABLE bench_presses (n)"))
        stop, out = directory / "stop", directory / "presses.json"
        presser = subprocess.Popen(  # noqa: ASYNC220 (started once, waited for at the end)
            [sys.executable, "-c", PRESSER, url, str(stop), str(out)], cwd=ROOT
        )
        await asyncio.sleep(2)
        stats: dict = {}
        began = time.perf_counter()
        new = await import_scrobbles(db.sessions, frame, stats=stats)
        wall = time.perf_counter() - began
        stop.touch()
        await asyncio.to_thread(presser.wait, 120)
        latencies = json.loads(out.read_text())
        async with db.sessions() as session:
            stored = (
                await session.execute(text("SELECT COUNT(*) FROM bench_presses"))
            ).scalar_one()
    held = stats["batch_seconds"]
    assert new == rows and stored == len(latencies)
    return {
        "import_s": wall,
        "batches": len(held),
        "lock_median_ms": 1000 * statistics.median(held),
        "lock_max_ms": 1000 * max(held),
        "presses": len(latencies),
        "press_median_ms": 1000 * statistics.median(latencies),
        "press_max_ms": 1000 * max(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(asyncio.run(run_once(args.rows, Path(tmp))))
            print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print("median:", json.dumps(medians))


if __name__ == "__main__":
    main()
