"""Backfill throughput: `breakout sync` against the local fake Last.fm, rate limit lifted.

Run from the repository root (figures in scrobbles/s, end to end)::

    uv run python benchmarks/bench_backfill.py                              # 300,000, 2 runs
    uv run python benchmarks/bench_backfill.py --runs 3                     # median of 3
    uv run python benchmarks/bench_backfill.py --scrobbles 100000 --profile # hot spots

Each run starts from an empty SQLite file and times the real command
(`python -m bot.cli sync`, LASTFM_REQUESTS_PER_SECOND=1000000) in a subprocess while the
fake serves from this process, so client and server do not share a GIL. "sync" is the
in-command time from the first request to the last commit (from the fake's request log),
"command CPU" its user+system seconds (a figure that other load on the machine inflates less),
"wall" adds interpreter start-up and migrations; imports are compiled once beforehand into a
private bytecode cache, as in an installed copy (this sandbox sets PYTHONDONTWRITEBYTECODE=1,
which alone adds ~2 s of compiling to every start). --profile runs the sync in-process under
cProfile instead and prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.lastfm_server import FakeLastfm, make_scrobbles  # noqa: E402


def run_command(fake: FakeLastfm, workdir: Path) -> tuple[float, float, float, int]:
    """One `breakout sync` in a subprocess; (wall s, sync s, CPU s of the command, rows)."""
    db_path = workdir / "bench.sqlite3"
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
        LASTFM_API_URL=fake.url,
        LASTFM_API_KEY=fake.api_key,
        LASTFM_USERNAME=fake.username,
        LASTFM_REQUESTS_PER_SECOND="1000000",
        LOG_LEVEL="WARNING",
        PYTHONPYCACHEPREFIX=str(workdir.parent / "pycache"),
    )
    # Like an installed copy, the command reuses compiled bytecode (warmed up in main()).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    seen = len(fake.requests)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "sync"],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=False,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode != 0:
        raise SystemExit(f"breakout sync failed with exit code {result.returncode}")
    first_request = fake.requests[seen].at
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM scrobbles").fetchone()[0]
    sync = start + wall - first_request
    return wall, sync, cpu, rows


def warm_up(tmp: Path) -> None:
    """Compile the command's imports once into a private bytecode cache."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", "import bot.commands.sync"], env=env, check=True)


def profile_in_process(fake: FakeLastfm, workdir: Path) -> None:
    """Run sync_history in this process under cProfile and print the hot spots."""
    import httpx

    from bot.db.session import Database
    from bot.lastfm.client import LastfmClient
    from bot.lastfm.sync import sync_history

    async def run() -> None:
        url = f"sqlite+aiosqlite:///{workdir / 'profile.sqlite3'}"
        async with await Database.open(url) as db, httpx.AsyncClient() as http:
            client = LastfmClient(http, fake.url, fake.api_key, 1_000_000)
            profiler = cProfile.Profile()
            profiler.enable()
            report = await sync_history(db.sessions, client, fake.username)
            profiler.disable()
            print(report.message)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    asyncio.run(run())


def main() -> None:
    """Build the fake, run the command `--runs` times on fresh databases, print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrobbles", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    start = time.monotonic()
    scrobbles = make_scrobbles(args.scrobbles, newest_ts=int(time.time()) - 3600, spacing=97)
    with FakeLastfm(scrobbles, now_playing=True) as fake:
        print(f"fake ready: {args.scrobbles:,} scrobbles in {time.monotonic() - start:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            if args.profile:
                profile_in_process(fake, Path(tmp))
                return
            warm_up(Path(tmp))
            walls, syncs = [], []
            for run in range(1, args.runs + 1):
                workdir = Path(tmp) / f"run{run}"
                workdir.mkdir()
                wall, sync, cpu, rows = run_command(fake, workdir)
                if rows != args.scrobbles:
                    raise SystemExit(f"stored {rows:,} rows, expected {args.scrobbles:,}")
                walls.append(wall)
                syncs.append(sync)
                print(
                    f"run {run}: wall {wall:.2f} s ({rows / wall:,.0f} scrobbles/s), "
                    f"sync {sync:.2f} s ({rows / sync:,.0f} scrobbles/s), "
                    f"command CPU {cpu:.2f} s, load average {os.getloadavg()[0]:.1f}"
                )
    wall, sync = statistics.median(walls), statistics.median(syncs)
    print(
        f"median of {args.runs}: wall {wall:.2f} s = {args.scrobbles / wall:,.0f} scrobbles/s; "
        f"sync {sync:.2f} s = {args.scrobbles / sync:,.0f} scrobbles/s"
    )


if __name__ == "__main__":
    main()
