"""Time features + labels on a history file (default: the 1M-scrobble scaled history).

Usage: uv run python benchmarks/bench_pipeline.py [HISTORY] [--repeat N]
Make the input with:
  python ../shared/bench/scale_history.py ../shared/data/histories/music-stats.csv 10 /tmp/1m.csv
"""

from __future__ import annotations

import argparse
import statistics
import time

from pipeline.config import PipelineConfig
from pipeline.features import build_artist_months
from pipeline.importers import read_history
from pipeline.labels import add_labels


def main() -> None:
    """Read once, then time features + labels `repeat` times; print each run and the median."""
    parser = argparse.ArgumentParser()
    parser.add_argument("history", nargs="?", default="/tmp/1m.csv")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    frame = read_history(args.history).frame
    print(f"read {len(frame)} scrobbles in {time.perf_counter() - started:.2f} s")
    cfg = PipelineConfig()
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        table = add_labels(build_artist_months(frame, cfg), cfg)
        runs.append(time.perf_counter() - started)
        print(f"features + labels: {runs[-1]:.2f} s ({len(table)} artist-months)")
    print(f"median {statistics.median(runs):.2f} s")


if __name__ == "__main__":
    main()
