"""Peak memory of `breakout rebuild` on a listener with many distinct artists, and of an import.

    uv run python benchmarks/bench_memory.py --artists 100000 [--runs 2]
    uv run python benchmarks/bench_memory.py --import-file /tmp/garbage.csv [--runs 2]

Rebuild: a simulated listener (36 months, pinned end) plus `--artists` extra artists played
once to three times each across those months, imported into a fresh database; each run is a
fresh process doing what `breakout rebuild` does, measured from outside (os.wait4: peak RSS;
wall clock). Import: a fresh process reading the file the way `breakout import` does, with
its peak RSS beside the file size. Medians of `--runs`; the load average is printed because
the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

WORK = Path("/tmp/bench_memory")
DB = WORK / "breakout.sqlite3"
DB_URL = f"sqlite+aiosqlite:///{DB}"
END = datetime(2026, 11, 28, tzinfo=UTC)


def history(extra_artists: int, seed: int = 11) -> pd.DataFrame:
    """A simulated listener plus `extra_artists` artists heard once to three times each."""
    from pipeline.simulate import simulate_listener

    base = simulate_listener(seed, 36, END.timestamp())
    rng = np.random.default_rng(seed)
    plays = rng.integers(1, 4, extra_artists)
    artist = np.repeat(np.arange(extra_artists), plays)
    start = END.timestamp() - 36 * 30 * 86_400
    ts = rng.integers(int(start), int(END.timestamp()) - 86_400, len(artist))
    extra = pd.DataFrame(
        {
            "ts": ts,
            "artist": [f"Extra Artist {i:06d}" for i in artist],
            "track": [f"Song {i % 7}" for i in artist],
            "album": "",
        }
    )
    return pd.concat([base[["ts", "artist", "track", "album"]], extra], ignore_index=True)


def prepare(extra_artists: int) -> None:
    """A fresh database holding the generated history."""
    import asyncio

    from bot.db.scrobbles import store_scrobbles
    from bot.db.session import Database

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    frame = history(extra_artists)
    for column in ("artist_mbid", "track_mbid", "album_mbid"):
        frame[column] = ""

    async def store() -> None:
        async with await Database.open(DB_URL) as db, db.sessions() as session, session.begin():
            await store_scrobbles(session, frame)

    asyncio.run(store())
    print(f"history: {len(frame):,} scrobbles, {frame['artist'].nunique():,} distinct artists")


def child_rebuild() -> None:
    from bot.commands.model import print_report
    from bot.services.rebuild import rebuild

    print_report(rebuild(DB_URL, WORK / "models", now=END))


def child_import(path: str) -> None:
    from pipeline.errors import UserError
    from pipeline.importers import read_history

    try:
        result = read_history(Path(path))
        print(f"read {result.rows_read:,} rows, {result.bad_rows:,} bad")
    except UserError as exc:
        print(f"refused: {str(exc)[:160]}")


def measure(argv: list[str]) -> tuple[float, float, str]:
    """One child: wall seconds, peak RSS in MB, its output."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, _status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artists", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--import-file")
    parser.add_argument("--child", choices=["rebuild", "import"])
    args = parser.parse_args()
    if args.child == "rebuild":
        return child_rebuild()
    if args.child == "import":
        return child_import(args.import_file)
    if args.import_file:
        argv = ["--child", "import", "--import-file", args.import_file]
        size = Path(args.import_file).stat().st_size / 2**20
    else:
        prepare(args.artists)
        argv, size = ["--child", "rebuild"], 0.0
    walls, peaks = [], []
    for run in range(args.runs):
        wall, peak, out = measure(argv)
        walls.append(wall)
        peaks.append(peak)
        print(f"run {run + 1}: {wall:.1f} s, peak RSS {peak:,.0f} MiB")
        print("  " + out.strip().replace("\n", "\n  "))
    ratio = f" ({statistics.median(peaks) / size:.1f}x the file's {size:,.0f} MiB)" if size else ""
    print(
        f"median of {args.runs}: {statistics.median(walls):.1f} s wall, "
        f"peak RSS {statistics.median(peaks):,.0f} MiB{ratio}; load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )


if __name__ == "__main__":
    main()
