"""Benchmark the rescore that follows every sync (stored model, no training) on a history file.

Prepare (once per history; imports it and trains the model the rescore reuses):
    uv run python benchmarks/bench_rescore.py --import ../shared/data/histories/music-stats.csv
    python ../shared/bench/scale_history.py ../shared/data/histories/music-stats.csv 10 /tmp/1m.csv
    uv run python benchmarks/bench_rescore.py --import /tmp/1m.csv

Then:
    uv run python benchmarks/bench_rescore.py --name music-stats [--runs 5]
    uv run python benchmarks/bench_rescore.py --name 1m [--runs 5]

Each run is `bot.services.rebuild.rescore` in this process (what the bot runs in a worker
thread after a sync), timed with its stage timings; "now" is pinned one day after the last
scrobble (the shared histories end years ago). Prints the median of the runs and the load
average, since the machine may be shared, and the CPU seconds of each run (user + system of this
process): the rescore is single-threaded, so on a busy machine its CPU time is about what it
takes on an idle one. Targets: <= 1 s for ~100k scrobbles, <= 3 s for 1M.

A run keeps the closed months' feature table beside the model (`pipeline/closed_months.py`), so
the rescores after it read only the recent plays; `--whole` deletes that file before each run
(the first rescore of a month, or one after a late scrobble into a closed month).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("BENCH_RESCORE_DIR", "/tmp/bench_rescore"))


def paths(name: str) -> tuple[Path, str, Path]:
    """(directory, database URL, model directory) of one benchmark history."""
    work = ROOT / name
    return work, f"sqlite+aiosqlite:///{work / 'breakout.sqlite3'}", work / "models"


def last_ts(work: Path) -> int:
    with sqlite3.connect(work / "breakout.sqlite3") as conn:
        return int(conn.execute("SELECT MAX(ts) FROM scrobbles").fetchone()[0])


def prepare(history: str, name: str) -> None:
    """Fresh database with the history imported (`breakout import`), then one training rebuild."""
    from bot.services.rebuild import rebuild

    work, url, models = paths(name)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "bot.cli", "import", history], env=env, check=True)
    report = rebuild(url, models, now=last_ts(work) + 86_400)
    print(f"prepared {name}: {report.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import", dest="history", help="(re)create a database from this file")
    parser.add_argument("--name", help="benchmark database name (default: the file's stem)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--whole", action="store_true", help="read the whole history each run")
    args = parser.parse_args()
    name = args.name or (Path(args.history).stem if args.history else None)
    if name is None:
        raise SystemExit("give --import FILE or --name NAME")
    if args.history:
        prepare(args.history, name)
    work, url, models = paths(name)
    if not (work / "breakout.sqlite3").exists():
        raise SystemExit(f"no database for {name}: run with --import FILE first")
    from bot.services.rebuild import rescore

    now = last_ts(work) + 86_400
    walls, cpus, stages = [], [], []
    for i in range(args.runs):
        if args.whole:
            (models / "closed_months.npz").unlink(missing_ok=True)
        cpu = time.process_time()
        report = rescore(url, models, now=now)
        cpus.append(time.process_time() - cpu)
        walls.append(report.total_seconds)
        stages.append(report.timings)
        shown = ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items())
        seconds = report.total_seconds
        print(f"run {i + 1}: {seconds:.2f} s, CPU {cpus[-1]:.2f} s ({shown}); {report.scrobbles:,}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"median {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU over "
        f"{len(walls)} runs; load average {load}"
    )
    for stage in stages[0]:
        values = [s.get(stage, 0.0) for s in stages]
        print(f"  {stage:<9} median {statistics.median(values):6.2f} s")


if __name__ == "__main__":
    main()
