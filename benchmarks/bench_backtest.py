"""Time the walk-forward backtest of a history file (default: music-stats).

Usage: uv run python benchmarks/bench_backtest.py [HISTORY] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from pipeline.backtest import run_backtest
from pipeline.config import PipelineConfig
from pipeline.importers import read_history

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/histories/music-stats.csv"


def main() -> None:
    """Time read + backtest `repeat` times; print each run and the median."""
    parser = argparse.ArgumentParser()
    parser.add_argument("history", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        frame = read_history(args.history).frame
        result = run_backtest(frame, PipelineConfig())
        runs.append(time.perf_counter() - started)
        project = result.report["models"]["project"]
        print(
            f"backtest: {runs[-1]:.1f} s ({result.report['rows']} rows, "
            f"{result.report['months']} months, project AP {project['average_precision']:.3f})"
        )
    print(f"median {statistics.median(runs):.1f} s")


if __name__ == "__main__":
    main()
