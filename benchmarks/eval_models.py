"""Compare the project's ranking across XGBoost seeds and on simulated listeners (the yardstick
with calibration and month-boundary offsets is benchmarks/eval_quality.py).

Usage: uv run python benchmarks/eval_models.py [--sim-seeds 1-6] [--months 48] [--seeds 42]
       [--no-real] [--jobs 2]

Prints pooled AP / lift per dataset (same rows for every model), the mean lift over the real
histories and its ratio to the best baseline's, and the per-dataset AP wins over every baseline.
`--seeds 42,7,99` repeats the project's model with other XGBoost seeds to show its variance.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from pipeline.backtest import baseline_scorers, build_report, project_margin, walk_forward
from pipeline.config import PipelineConfig
from pipeline.features import build_artist_months
from pipeline.importers import read_history
from pipeline.labels import add_labels
from pipeline.models import sigmoid
from pipeline.simulate import simulate_listener

HISTORIES = Path(__file__).resolve().parents[2] / "shared/data/histories"
REAL = [
    "music-stats.csv",
    "pavelgar.csv",
    "pingw33n.lastfm-to-csv.csv",
    "timcdlucas.csv",
    "tariktosun.csv",
]
SIM_END = datetime(2026, 1, 1, tzinfo=UTC)
BASELINES = ["naive_share", "naive_plays", "fallback", "seed_lr", "seed_xgb"]


def _frame(name: str, months: int):
    if name.startswith("sim"):
        return simulate_listener(int(name[3:]), months, SIM_END)
    return read_history(HISTORIES / name).frame


def _project_with_seed(seed: int):
    def scorer(train, rows, cfg):
        margin = project_margin(train, rows, replace(cfg, seed=seed))
        return None if margin is None else sigmoid(margin)

    return scorer


def evaluate(name: str, months: int, seeds: list[int]) -> tuple[str, dict, float]:
    """Backtest one dataset; returns (name, {model: (AP, lift)}, seconds)."""
    started = time.perf_counter()
    cfg = PipelineConfig()
    table = add_labels(build_artist_months(_frame(name, months), cfg), cfg)
    scorers = {f"project@{s}": _project_with_seed(s) for s in seeds}
    scorers.update(baseline_scorers())
    report = build_report(walk_forward(table, cfg, scorers, project=None), list(scorers))
    out = {
        k: (v["average_precision"] or 0.0, v["lift"] or 0.0) for k, v in report["models"].items()
    }
    out["_positives"] = (report["positives"], report["rows"])
    return name, out, time.perf_counter() - started


def _seed_range(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",") if s]


def main() -> None:
    """Run every dataset (in parallel processes) and print the comparison."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim-seeds", default="1-6")
    parser.add_argument("--months", type=int, default=48)
    parser.add_argument("--seeds", default="42", help="XGBoost seeds of the project's model")
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    seeds = _seed_range(args.seeds)
    names = ([] if args.no_real else REAL) + [f"sim{s}" for s in _seed_range(args.sim_seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(evaluate, names, [args.months] * len(names), [seeds] * len(names)))
    projects = [f"project@{s}" for s in seeds]
    cols = projects + BASELINES
    print(f"{'dataset':28s} {'pos/rows':>11s} " + " ".join(f"{c:>14s}" for c in cols) + "  wins")
    wins = 0
    for name, res, secs in results:
        pos, n = res["_positives"]
        cells = " ".join(f"{res[c][0]:.3f}/{res[c][1]:5.2f}" for c in cols)
        best_base = max(res[b][0] for b in BASELINES)
        won = all(res[p][0] > best_base for p in projects)
        wins += won
        print(f"{name[:28]:28s} {pos:>4d}/{n:<6d} {cells}  {'yes' if won else 'NO'} ({secs:.0f}s)")
    real = [r for r in results if not r[0].startswith("sim")]
    sims = [r for r in results if r[0].startswith("sim")]
    for label, group in (("real", real), ("simulated", sims)):
        if not group:
            continue
        mean = {c: statistics.mean(r[1][c][1] for r in group) for c in cols}
        best = max(mean[b] for b in BASELINES)
        ratios = ", ".join(f"{p} {mean[p] / best:.3f}x" for p in projects)
        print(f"{label}: mean lift " + ", ".join(f"{c} {mean[c]:.2f}" for c in cols))
        print(f"{label}: ratio to best baseline ({best:.2f}): {ratios}")
    print(f"datasets where the project's AP beats every baseline: {wins}/{len(results)}")


if __name__ == "__main__":
    main()
