"""`breakout backtest HISTORY [--out CSV] [--report JSON] [--chart PNG] [--format F]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import UserError

if TYPE_CHECKING:
    from pipeline.prior import Prior

LABELS = {
    "project": "project model",
    "naive_share": "naive: share_t",
    "naive_plays": "naive: plays_t",
    "fallback": "fallback: core_progress_t",
    "seed_lr": "seed 13 features, LR",
    "seed_xgb": "seed 13 features, XGBoost",
}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(report: dict) -> str:
    """The report as a fixed-width text table, then calibration and alerts."""
    lines = [
        f"{report['rows']} eligible artist-months, {report['positives']} breakouts, "
        f"{report['months']} months ({report['first_month']} .. {report['last_month']}), "
        f"{report['months_scored_by_fallback']} scored by the fallback ranking",
        f"{'model':28} {'AP':>7} {'lift':>6} {'ROC':>6} {'P@3':>6}",
    ]
    for name, m in report["models"].items():
        lines.append(
            f"{LABELS.get(name, name):28} {_fmt(m['average_precision']):>7} "
            f"{_fmt(m['lift'], 2):>6} {_fmt(m['roc_auc'], 2):>6} {_fmt(m['precision_at_3']):>6}"
        )
    lines.append(f"prevalence {_fmt(report['models']['project']['prevalence'])}")
    cal = report.get("calibration")
    if cal and cal["rows"]:
        lines.append(
            f"calibration ({cal['rows']} rows scored by a model): mean predicted "
            f"{cal['mean_predicted']:.3f} vs observed {cal['observed_rate']:.3f}, "
            f"ECE {cal['ece']:.3f}, Brier {cal['brier']:.4f} "
            f"(constant base rate {cal['brier_constant']:.4f})"
        )
    flagged = report.get("flagged")
    if flagged and flagged["count"]:
        lines.append(
            f"flagged above threshold: {flagged['count']}, became core {flagged['became_core']} "
            f"({flagged['hit_rate']:.0%}; base rate {flagged['base_rate']:.0%})"
        )
    return "\n".join(lines)


def write_chart(result, path: Path) -> None:
    """Bar chart of the lift of each ranking (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = result.report["models"]
    names = list(models)
    lifts = [models[n]["lift"] or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors = ["tab:green" if n == "project" else "tab:gray" for n in names]
    ax.barh([LABELS.get(n, n) for n in names], lifts, color=colors)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("lift = average precision / prevalence")
    ax.set_title(
        f"Backtest: {result.report['rows']} artist-months, {result.report['positives']} breakouts"
    )
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _targets(args: argparse.Namespace) -> tuple[Path, Path, Path | None]:
    """Predictions, report and chart paths (defaults in the current directory)."""
    out = Path(args.out) if args.out else Path(f"backtest-{Path(args.history).stem}.csv")
    report = Path(args.report) if args.report else out.with_suffix(".json")
    chart = Path(args.chart) if args.chart else None
    for target in (out, report, chart):
        if target is not None and not target.resolve().parent.is_dir():
            raise UserError(f"cannot write {target}: its directory does not exist")
    return out, report, chart


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _unseen_prior(path: Path) -> Prior | None:
    """The shipped prior, as the bot ranks with it, unless it was trained on this very file (a
    backtest by a prior that saw the outcomes would flatter it): then the listener's own model."""
    from pipeline.prior import content_hash, shipped_prior

    prior = shipped_prior()
    if prior is not None and prior.read_file_hashed(content_hash(path.read_bytes())):
        print(
            f"{path.name} helped train the shipped prior, so it is replayed with the listener's "
            "own model instead",
            file=sys.stderr,
        )
        return None
    return prior


def cmd_backtest(args: argparse.Namespace) -> int:
    """Read a history file, run the walk-forward backtest, write predictions/report/chart."""
    from tqdm import tqdm

    from pipeline.backtest import run_backtest
    from pipeline.config import PipelineConfig
    from pipeline.importers import read_history

    started = time.perf_counter()
    out, report_path, chart = _targets(args)
    imported = read_history(args.history, args.format)
    bar = tqdm(total=0, unit="month", desc="backtest", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    prior = _unseen_prior(Path(args.history))
    try:
        result = run_backtest(imported.frame, PipelineConfig(), progress=progress, prior=prior)
    finally:
        bar.close()
    if result.predictions.empty:
        raise UserError(
            f"{args.history}: too short for a backtest (no eligible artist-month after the "
            "cold start with a known outcome)"
        )
    _write_text(out, result.predictions.to_csv(index=False, float_format="%.6g"))
    report = {
        "history": str(args.history),
        "format": imported.format,
        "ranked_by": "prior" if prior is not None else "own model",
        **result.report,
    }
    _write_text(report_path, json.dumps(report, indent=2, default=float) + "\n")
    if chart:
        write_chart(result, chart)
    print(format_table(result.report))
    elapsed = time.perf_counter() - started
    written = ", ".join(str(p) for p in (out, report_path, chart) if p)
    print(f"{len(result.predictions)} predictions; wrote {written} in {elapsed:.1f} s")
    return 0
