"""Benchmark `breakout rebuild` end to end on the 1,000,000-scrobble history.

Prepare once (a few minutes), from the project root:
    python ../shared/bench/scale_history.py ../shared/data/histories/music-stats.csv 10 \
        /tmp/1m.csv
    uv run python benchmarks/bench_rebuild.py --import /tmp/1m.csv

Then:
    uv run python benchmarks/bench_rebuild.py [--runs 2]

Each run is a fresh process doing what `breakout rebuild` does (migrate, rebuild, print the
stage timings), timed from the outside: wall clock and peak RSS (os.wait4). The shared history
ends in 2024, so the child pins "now" one day after the last scrobble, otherwise nothing would
be recent enough to score. Runs 1..N start without a saved model (training included); a final
run reuses the model (the nightly case when nothing changed). Targets: <= 30 s, <= 2 GB.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(os.environ.get("BENCH_REBUILD_DIR", "/tmp/bench_rebuild"))
DB_URL = f"sqlite+aiosqlite:///{WORK / 'breakout.sqlite3'}"
MODELS = WORK / "models"
STAGE = re.compile(r"^\s+(\w+)\s+([\d.]+) s$", re.M)


def child() -> None:
    """Inside the measured process: the `breakout rebuild` code path with a pinned `now`."""
    import sqlite3

    from bot.commands.model import print_report
    from bot.db.session import upgrade_database_sync
    from bot.services.rebuild import rebuild

    upgrade_database_sync(DB_URL)
    with sqlite3.connect(WORK / "breakout.sqlite3") as conn:
        last = conn.execute("SELECT MAX(ts) FROM scrobbles").fetchone()[0]
    print_report(rebuild(DB_URL, MODELS, now=int(last) + 86_400))


def measure() -> tuple[float, float, dict[str, float], str]:
    """One child run: wall seconds, peak RSS in MB, stage timings (with `cpu`: the child's user
    + system seconds, what it takes on an idle core), its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rebuild failed:\n{out}")
    stages = {name: float(sec) for name, sec in STAGE.findall(out)}
    stages["cpu"] = round(usage.ru_utime + usage.ru_stime, 2)
    return wall, usage.ru_maxrss / 1024, stages, out


def import_history(path: str) -> None:
    """Fresh database with the history imported through `breakout import`."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    env = {**os.environ, "DATABASE_URL": DB_URL}
    subprocess.run([sys.executable, "-m", "bot.cli", "import", path], env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import", dest="history", help="(re)create the database from a file")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    if args.history:
        import_history(args.history)
    if not (WORK / "breakout.sqlite3").exists():
        raise SystemExit("no database yet: run with --import /tmp/1m.csv first")
    results = []
    for i in range(args.runs):
        shutil.rmtree(MODELS, ignore_errors=True)
        wall, rss, stages, out = measure()
        results.append((wall, rss, stages))
        print(f"run {i + 1} (training): wall {wall:.1f} s, peak RSS {rss:.0f} MB, {stages}")
    print(out)
    wall, rss, stages, out = measure()
    print(f"reuse run (no retrain): wall {wall:.1f} s, peak RSS {rss:.0f} MB, {stages}")
    walls = [w for w, _, _ in results]
    print(f"median wall {statistics.median(walls):.1f} s over {len(walls)} runs (target <= 30 s)")
    print(f"max peak RSS {max(r for _, r, _ in results):.0f} MB (target <= 2048 MB)")
    for stage in ("load", "features", "labels", "train", "score", "store", "cpu"):
        values = [s.get(stage, 0.0) for _, _, s in results]
        print(f"  {stage:<9} median {statistics.median(values):6.2f} s")


if __name__ == "__main__":
    main()
