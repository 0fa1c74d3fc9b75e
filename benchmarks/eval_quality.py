"""The yardstick: walk-forward backtests of every shared history at several month-boundary offsets.

Usage: uv run python benchmarks/eval_quality.py [--histories DIR] [--offsets 0,10,20] [--jobs 2]
       [--only NAME,...] [--markdown FILE] [--no-cache]

Each history's timestamps are shifted by 0, 10 and 20 days (month boundaries fall elsewhere), and
every run prints, on exactly the same rows: the project's pooled AP, lift and P@3, the best
baseline's AP (naive share_t, naive plays_t, the fallback core_progress_t, the seed's LR and
XGBoost) and the ratio to it, and the calibration of the project's out-of-time probabilities
(ECE over 10 equal-count bins, mean predicted vs observed rate, Brier beside the constant
base-rate predictor's). Then a summary row. Results are cached per run in
benchmarks/.cache/eval_quality/, keyed by the pipeline's source and the history file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HISTORIES = ROOT.parent / "shared/data/histories"
CACHE = ROOT / "benchmarks/.cache/eval_quality"
BASELINES = ["naive_share", "naive_plays", "fallback", "seed_lr", "seed_xgb"]
DAY = 86_400


def code_version() -> str:
    """Hash of the pipeline's source: a cached result is reused only for the same code."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_path(history: Path, offset: int, version: str) -> Path:
    stat = history.stat()
    key = f"{history.name}|{stat.st_size}|{int(stat.st_mtime)}|{offset}|{version}"
    return CACHE / f"{history.stem}-{offset}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"


def evaluate(history: str, offset: int) -> dict:
    """One run: backtest of `history` shifted by `offset` days; metrics of every model."""
    from pipeline.backtest import baseline_scorers, build_report, walk_forward
    from pipeline.config import PipelineConfig
    from pipeline.features import build_artist_months
    from pipeline.importers import read_history
    from pipeline.labels import add_labels

    started = time.perf_counter()
    cfg = PipelineConfig()
    frame = read_history(history).frame
    frame = frame.assign(ts=frame["ts"].to_numpy(dtype="int64") + offset * DAY)
    table = add_labels(build_artist_months(frame, cfg), cfg)
    scores = walk_forward(table, cfg, baseline_scorers())
    report = build_report(scores, ["project", *BASELINES])
    return {
        "history": Path(history).stem,
        "offset": offset,
        "rows": report["rows"],
        "positives": report["positives"],
        "months": report["months"],
        "models": report["models"],
        "calibration": report["calibration"],
        "flagged": report["flagged"],
        "seconds": time.perf_counter() - started,
    }


def cached_evaluate(history: str, offset: int, version: str, use_cache: bool) -> dict:
    """evaluate() through the per-run cache."""
    path = _cache_path(Path(history), offset, version)
    if use_cache and path.exists():
        return {**json.loads(path.read_text()), "cached": True}
    result = evaluate(history, offset)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, default=float))
    return {**result, "cached": False}


def row_figures(run: dict) -> dict:
    """The figures of one table row."""
    models, cal = run["models"], run["calibration"]
    best = max(BASELINES, key=lambda b: models[b]["average_precision"] or 0.0)
    ap, best_ap = models["project"]["average_precision"] or 0.0, models[best]["average_precision"]
    return {
        "run": f"{run['history']} +{run['offset']}d",
        "pos/rows": f"{run['positives']}/{run['rows']}",
        "AP": ap,
        "lift": models["project"]["lift"] or 0.0,
        "P@3": models["project"]["precision_at_3"] or 0.0,
        "best baseline": f"{best} {best_ap or 0.0:.3f}",
        "ratio": ap / best_ap if best_ap else float("nan"),
        "ECE": cal["ece"],
        "pred/obs": f"{cal['mean_predicted']:.3f}/{cal['observed_rate']:.3f}",
        "Brier (const)": f"{cal['brier']:.4f} ({cal['brier_constant']:.4f})",
        "won": ap >= (best_ap or 0.0),
    }


def summary(runs: list[dict]) -> dict:
    """Mean lifts, the ratio to the best baseline's mean, wins among runs with >= 5 positives."""
    mean = {
        m: statistics.mean(r["models"][m]["lift"] or 0.0 for r in runs)
        for m in ["project", *BASELINES]
    }
    best = max(BASELINES, key=lambda b: mean[b])
    rated = [r for r in runs if r["positives"] >= 5]
    wins = sum(row_figures(r)["won"] for r in rated)
    cal = [r["calibration"] for r in runs]
    return {
        "mean_lift": mean,
        "best_baseline": best,
        "ratio": mean["project"] / mean[best],
        "wins": wins,
        "rated": len(rated),
        "mean_ece": statistics.mean(c["ece"] for c in cal),
        "max_ece": max(c["ece"] for c in cal),
        "brier_below_constant": sum(c["brier"] < c["brier_constant"] for c in cal),
        "runs": len(runs),
    }


COLUMNS = ["run", "pos/rows", "AP", "lift", "P@3", "best baseline", "ratio", "ECE", "pred/obs"]
COLUMNS += ["Brier (const)"]


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(runs: list[dict], total: dict) -> str:
    """The table and its summary as markdown (pasted into the README)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for run in runs:
        fig = row_figures(run)
        lines.append("| " + " | ".join(_cell(fig[c]) for c in COLUMNS) + " |")
    lines.append("")
    lines.append(summary_text(total))
    return "\n".join(lines) + "\n"


def summary_text(total: dict) -> str:
    """The summary row in words."""
    lifts = ", ".join(f"{m} {v:.2f}" for m, v in total["mean_lift"].items())
    return (
        f"Mean lift over {total['runs']} runs: {lifts}. Project / best baseline "
        f"({total['best_baseline']}) mean lift: {total['ratio']:.2f}x. Project AP >= best "
        f"baseline's in {total['wins']}/{total['rated']} runs with >= 5 positives. ECE mean "
        f"{total['mean_ece']:.3f}, worst {total['max_ece']:.3f}; Brier below the constant "
        f"predictor's in {total['brier_below_constant']}/{total['runs']} runs."
    )


def main() -> int:
    """Run every history × offset (at most `--jobs` processes) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--histories", default=str(HISTORIES))
    parser.add_argument("--offsets", default="0,10,20")
    parser.add_argument("--only", default="", help="comma-separated history stems")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--markdown", default=None, help="also write the table here")
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    files = sorted(p for p in Path(args.histories).glob("*") if p.suffix in (".csv", ".json"))
    if args.only:
        files = [p for p in files if p.stem.split(".")[0] in args.only.split(",")]
    if not files:
        print(f"no histories in {args.histories}", file=sys.stderr)
        return 1
    offsets = [int(o) for o in args.offsets.split(",")]
    jobs = [(str(f), o) for f in files for o in offsets]
    version, started = code_version(), time.perf_counter()
    with ProcessPoolExecutor(max(1, min(args.jobs, 2))) as pool:
        futures = [pool.submit(cached_evaluate, h, o, version, not args.no_cache) for h, o in jobs]
        runs = [f.result() for f in futures]
    print("  ".join(f"{c:>14}" for c in COLUMNS))
    for run in runs:
        fig = row_figures(run)
        secs = "cached" if run["cached"] else f"{run['seconds']:.0f}s"
        print("  ".join(f"{_cell(fig[c]):>14}" for c in COLUMNS) + f"  {secs}")
    total = summary(runs)
    print(summary_text(total))
    print(f"wall time {time.perf_counter() - started:.0f} s ({len(jobs)} runs)")
    if args.markdown:
        Path(args.markdown).write_text(markdown(runs, total), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
