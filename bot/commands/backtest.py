"""`breakout backtest HISTORY --out CSV [--report JSON] [--chart PNG] [--format F]`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipeline.backtest import BacktestResult, run_backtest
from pipeline.config import PipelineConfig
from pipeline.errors import UserError
from pipeline.importers import read_history

LABELS = {
    "project": "project model",
    "naive_share": "naive: share_t",
    "naive_plays": "naive: plays_t",
    "seed_lr": "seed 13 features, LR",
    "seed_xgb": "seed 13 features, XGBoost",
}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(report: dict) -> str:
    """The report as a fixed-width text table."""
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
    return "\n".join(lines)


def write_chart(result: BacktestResult, path: Path) -> None:
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


def cmd_backtest(args: argparse.Namespace) -> int:
    """Read a history file, run the walk-forward backtest, write predictions/report/chart."""
    started = time.perf_counter()
    imported = read_history(args.history, args.format)
    out = Path(args.out)
    for target in (args.out, args.report, args.chart):
        if target is not None and not Path(target).resolve().parent.is_dir():
            raise UserError(f"cannot write {target}: its directory does not exist")
    result = run_backtest(imported.frame, PipelineConfig())
    if result.predictions.empty:
        raise UserError(
            f"{args.history}: too short for a backtest (no eligible artist-month after the "
            "cold start with a known outcome)"
        )
    tmp = out.with_name(out.name + ".tmp")
    result.predictions.to_csv(tmp, index=False, float_format="%.6g")
    tmp.replace(out)
    if args.report:
        report = {"history": str(args.history), "format": imported.format, **result.report}
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.chart:
        write_chart(result, Path(args.chart))
    print(format_table(result.report))
    elapsed = time.perf_counter() - started
    print(f"{len(result.predictions)} predictions written to {out} in {elapsed:.1f} s")
    return 0
