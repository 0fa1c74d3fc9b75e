"""Benchmark: `breakout import` of a 1,000,000-scrobble ghan CSV, and load_scrobbles on the result.

Target: <= 8 s wall (issue 16; it was <= 20 s) and <= 1.5 GB peak RSS end to end (CLI process,
fresh database).

    uv run python benchmarks/bench_import.py                 # builds the file, 2 runs
    uv run python benchmarks/bench_import.py --file OUT.csv --runs 3

The input is made by ../shared/bench/scale_history.py from music-stats.csv x 10 unless --file
is given. Each run imports into a fresh SQLite file in a child process (timed with os.wait4,
which also gives that child's peak RSS and CPU time); the last database is then re-imported
(everything already present) and loaded with load_scrobbles in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SCALER = SHARED / "bench" / "scale_history.py"
SOURCE = SHARED / "data" / "histories" / "music-stats.csv"
WALL_TARGET_S = 8.0
RSS_TARGET_MB = 1536.0


def make_input(directory: Path) -> Path:
    """The 1,024,000-row ghan CSV (music-stats.csv scaled 10 times)."""
    out = directory / "ghan-1m.csv"
    subprocess.run([sys.executable, str(SCALER), str(SOURCE), "10", str(out)], check=True)
    return out


def run_import(history: Path, db_path: Path) -> dict[str, float | str]:
    """One `breakout import` in a child process: wall, CPU and peak RSS of that child."""
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    command = [sys.executable, "-m", "bot.cli", "import", str(history)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read().strip() if child.stdout else ""  # EOF when the child exits
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode != 0:
        raise SystemExit(f"import failed with exit code {child.returncode}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "summary": output.splitlines()[0],
    }


def time_load(db_path: Path, runs: int) -> tuple[float, int]:
    """Median seconds of load_scrobbles on the database, and its row count."""
    sys.path.insert(0, str(ROOT))
    from bot.db.scrobbles import load_scrobbles
    from bot.db.session import make_sync_engine

    engine = make_sync_engine(f"sqlite+aiosqlite:///{db_path}")
    times, rows = [], 0
    for _ in range(runs):
        with engine.connect() as connection:
            started = time.perf_counter()
            rows = len(load_scrobbles(connection))
            times.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(times), rows


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="ghan CSV to import (default: build one)")
    parser.add_argument("--runs", type=int, default=2, help="fresh-database imports (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        directory = Path(tmp)
        history = args.file or make_input(directory)
        results = []
        for run in range(args.runs):
            db_path = directory / f"run{run}.sqlite3"
            results.append(run_import(history, db_path))
            print(
                f"run {run + 1}: "
                + ", ".join(f"{k}={v:.2f}" for k, v in results[-1].items() if isinstance(v, float)),
                flush=True,
            )
        print(results[-1]["summary"])
        again = run_import(history, db_path)
        load_s, rows = time_load(db_path, runs=2)
        wall = statistics.median(float(r["wall_s"]) for r in results)
        cpu = statistics.median(float(r["cpu_s"]) for r in results)
        rss = max(float(r["rss_mb"]) for r in results)
        print(f"load average now: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            f"import, fresh DB: median wall {wall:.2f} s (target <= {WALL_TARGET_S:.0f} s), "
            f"median CPU {cpu:.2f} s, peak RSS {rss:.0f} MB (target <= {RSS_TARGET_MB:.0f} MB)"
        )
        print(
            f"re-import, all present: wall {float(again['wall_s']):.2f} s, "
            f"peak RSS {float(again['rss_mb']):.0f} MB"
        )
        print(f"load_scrobbles: {rows:,} rows in {load_s:.2f} s (median of 2)")
        ok = wall <= WALL_TARGET_S and rss <= RSS_TARGET_MB
        print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
