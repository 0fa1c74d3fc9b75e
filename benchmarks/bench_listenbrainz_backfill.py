"""Backfill throughput: `breakout sync` against the local fake ListenBrainz, rate limits lifted.

Run from the repository root (figures in listens/s, end to end)::

    uv run python benchmarks/bench_listenbrainz_backfill.py                 # 300,000, 3 runs
    uv run python benchmarks/bench_listenbrainz_backfill.py --per-second 5  # crowded seconds

Like bench_backfill.py: each run starts from an empty SQLite file and times the real command
(`python -m bot.cli sync` with LISTENS_SOURCE=listenbrainz,
LISTENBRAINZ_REQUESTS_PER_SECOND=1000000) in a subprocess while the fake serves from this
process. "sync" runs from the first request to the end of the command (from the fake's
request log), "wall" adds interpreter start-up and migrations. With the real service's rule
of one request per second, a backfill is bound at ~1,000 listens/s by the rate alone; this
measures what the client, parser and store add on top.
"""

from __future__ import annotations

import argparse
import os
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

from benchmarks.bench_backfill import warm_up  # noqa: E402
from tests.fakes.listenbrainz_server import FakeListenBrainz, make_listens  # noqa: E402


def run_command(fake: FakeListenBrainz, workdir: Path) -> tuple[float, float, float, int]:
    """One `breakout sync` in a subprocess; (wall s, sync s, CPU s of the command, rows)."""
    db_path = workdir / "bench.sqlite3"
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
        LISTENS_SOURCE="listenbrainz",
        LISTENBRAINZ_API_URL=fake.url,
        LISTENBRAINZ_USERNAME=fake.username,
        LISTENBRAINZ_REQUESTS_PER_SECOND="1000000",
        LOG_LEVEL="WARNING",
        PYTHONPYCACHEPREFIX=str(workdir.parent / "pycache"),
    )
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
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM scrobbles").fetchone()[0]
    conn.close()
    return wall, start + wall - fake.requests[seen].at, cpu, rows


def main() -> None:
    """Build the fake, run the command `--runs` times on fresh databases, print medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listens", type=int, default=300_000)
    parser.add_argument("--per-second", type=int, default=2, help="listens sharing a second")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    listens = make_listens(
        args.listens, newest_ts=int(time.time()) - 3600, spacing=97, per_second=args.per_second
    )
    with FakeListenBrainz(listens) as fake, tempfile.TemporaryDirectory() as tmp:
        warm_up(Path(tmp))
        walls, syncs = [], []
        for run in range(1, args.runs + 1):
            workdir = Path(tmp) / f"run{run}"
            workdir.mkdir()
            wall, sync, cpu, rows = run_command(fake, workdir)
            if rows != args.listens:
                raise SystemExit(f"stored {rows:,} rows, expected {args.listens:,}")
            walls.append(wall)
            syncs.append(sync)
            print(
                f"run {run}: wall {wall:.2f} s ({rows / wall:,.0f} listens/s), "
                f"sync {sync:.2f} s ({rows / sync:,.0f} listens/s), "
                f"command CPU {cpu:.2f} s, load average {os.getloadavg()[0]:.1f}"
            )
    wall, sync = statistics.median(walls), statistics.median(syncs)
    print(
        f"median of {args.runs}: wall {wall:.2f} s = {args.listens / wall:,.0f} listens/s; "
        f"sync {sync:.2f} s = {args.listens / sync:,.0f} listens/s"
    )


if __name__ == "__main__":
    main()
