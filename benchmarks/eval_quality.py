"""The yardstick: walk-forward backtests of every shared history at several month-boundary offsets.

Usage: uv run python benchmarks/eval_quality.py [--histories DIR] [--offsets 0,10,20] [--jobs 2]
       [--only NAME,...] [--markdown FILE] [--no-cache] [--no-prior]

Each history's timestamps are shifted by 0, 10 and 20 days (month boundaries fall elsewhere), and
every run prints, on exactly the same rows: the project's pooled AP, lift and P@3, the best
baseline's AP (naive share_t, naive plays_t, the fallback core_progress_t, the seed's LR and
XGBoost) and the ratio to it, and the calibration of the project's out-of-time probabilities
(ECE over 10 equal-count bins beside the ECE a perfectly calibrated predictor would show on
the same rows, mean predicted vs observed rate, Brier beside two constant
predictors: the rows' own observed rate, known only in hindsight, and the base rate known at the
time), and the flags: how many came true, hit rate beside the base rate, flags per month. Then a
summary row, the flags pooled, and the cold-start months (each history's first 18) pooled.

The project uses the cross-listener prior trained leave-one-listener-out: each run's prior is fit
on every other history (cached in benchmarks/.cache/priors/), and a run refuses a prior whose
manifest names its own listener. Results are cached per run in benchmarks/.cache/eval_quality/,
keyed by the pipeline's source, the history file and the prior.
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
sys.path.insert(0, str(ROOT))
HISTORIES = ROOT.parent / "shared/data/histories"
CACHE = ROOT / "benchmarks/.cache/eval_quality"
PRIORS = ROOT / "benchmarks/.cache/priors"
# The first months of a history, where a listener's own model has (almost) nothing to learn from.
COLD_START_MONTHS = 18
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


def _variant(kind: str = "blend", extra: tuple[str, ...] = (), **changes):
    """A project variant's ranking scorer (uncalibrated probability), for comparison."""

    def scorer(train, rows, cfg):
        from dataclasses import replace

        from pipeline.features import FEATURES
        from pipeline.models import sigmoid
        from pipeline.train import fit_project_scorer

        cfg = replace(cfg, **changes)
        positives = train["label"].sum()
        if positives < cfg.min_positives or positives >= len(train):
            return None
        bundle = fit_project_scorer(train, cfg, kind, [*FEATURES, *extra])
        return sigmoid(bundle.margin(rows))

    return scorer


VARIANTS = {
    "lr_only": lambda: _variant("logistic"),
    "trees_only": lambda: _variant("xgboost"),
    "plus_raw": lambda: _variant(extra=("plays_t", "share_t")),
    "bags10": lambda: _variant(xgb_bags=10),
    "no_class_weights": lambda: _variant(class_weighting=False),
    "plus_act": lambda: _variant(extra=("activation_t", "gap_ratio_t")),
    "plus_all": lambda: _variant(extra=("plays_t", "share_t", "activation_t", "gap_ratio_t")),
    "lr_all": lambda: _variant(
        "logistic", extra=("plays_t", "share_t", "activation_t", "gap_ratio_t")
    ),
}


def loo_priors(files: list[Path], pool) -> dict[str, str]:
    """Listener → path of a prior trained on every other history (cached by code and data)."""
    from train_prior import history_name, history_rows

    from pipeline.prior import fit_prior, save_prior

    names = [history_name(f) for f in files]
    key = code_version() + "|" + "|".join(f"{f.name}:{f.stat().st_size}" for f in files)
    paths = {
        n: PRIORS / f"{n}-{hashlib.sha256(f'{key}|{n}'.encode()).hexdigest()[:12]}.json"
        for n in names
    }
    if all(p.exists() for p in paths.values()):
        return {n: str(p) for n, p in paths.items()}
    rows = {name: (digest, r) for name, digest, r in pool.map(history_rows, map(str, files))}
    for name, path in paths.items():
        others = {n: r for n, (_, r) in rows.items() if n != name}
        prior = fit_prior(others, {n: d for n, (d, _) in rows.items() if n != name}, nthread=2)
        save_prior(prior, path)
    return {n: str(p) for n, p in paths.items()}


def evaluate(
    history: str, offset: int, variants: tuple[str, ...] = (), prior_path: str | None = None
) -> dict:
    """One run: backtest of `history` shifted by `offset` days; metrics of every model. With
    `prior_path`, the project is weighed against that cross-listener prior, which must not
    have read this listener's history (checked on its manifest)."""
    import numpy as np
    from train_prior import history_name

    from pipeline.backtest import baseline_scorers, build_report, walk_forward
    from pipeline.config import PipelineConfig
    from pipeline.features import build_artist_months
    from pipeline.importers import read_history
    from pipeline.labels import add_labels
    from pipeline.prior import read_prior

    started = time.perf_counter()
    cfg = PipelineConfig()
    prior = None if prior_path is None else read_prior(prior_path)
    if prior is not None and prior.trained_on(history_name(Path(history))):
        raise AssertionError(f"the prior {prior_path} was trained on {history}")
    frame = read_history(history).frame
    frame = frame.assign(ts=frame["ts"].to_numpy(dtype="int64") + offset * DAY)
    table = add_labels(build_artist_months(frame, cfg), cfg)
    extra = {f"variant:{v}": VARIANTS[v]() for v in variants}
    scores = walk_forward(table, cfg, {**baseline_scorers(), **extra}, prior=prior)
    report = build_report(scores, ["project", *BASELINES, *extra])
    cold = scores[scores["period"].to_numpy() < COLD_START_MONTHS]
    return {
        "prior": None if prior is None else [h["name"] for h in prior.manifest["histories"]],
        "cold_start": build_report(cold, ["project", *BASELINES]) if len(cold) else None,
        "history": Path(history).stem,
        "offset": offset,
        "rows": report["rows"],
        "positives": report["positives"],
        "months": report["months"],
        "models": report["models"],
        "calibration": report["calibration"],
        "flagged": report["flagged"],
        "pairs": scores.loc[scores["project_fitted"], ["label", "probability"]].to_numpy().tolist(),
        # what a threshold policy needs, per scored row: period, odds, label, rates, budget
        "flag_rows": scores.loc[
            scores["project_fitted"],
            ["period", "probability", "label", "recent_rate", "budget_threshold"],
        ]
        .replace(np.inf, 1.0)
        .to_numpy()
        .tolist(),
        "seconds": time.perf_counter() - started,
    }


def cached_evaluate(
    history: str,
    offset: int,
    version: str,
    use_cache: bool,
    variants: tuple[str, ...] = (),
    prior_path: str | None = None,
) -> dict:
    """evaluate() through the per-run cache."""
    path = _cache_path(Path(history), offset, version + "|".join(variants) + str(prior_path))
    if use_cache and path.exists():
        return {**json.loads(path.read_text()), "cached": True}
    result = evaluate(history, offset, variants, prior_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, default=float))
    return {**result, "cached": False}


def ece_floor(pairs: list, draws: int = 200) -> float:
    """The median ECE a perfectly calibrated predictor shows on these rows: outcomes drawn from
    the predicted probabilities themselves (small runs cannot score below it but by luck)."""
    import numpy as np

    from pipeline.calibration import expected_calibration_error

    p = np.array([b for _, b in pairs], dtype="float64")
    rng = np.random.default_rng(0)
    return float(
        np.median([expected_calibration_error(rng.random(len(p)) < p, p) for _ in range(draws)])
    )


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
        "ECE floor": ece_floor(run["pairs"]),
        "pred/obs": f"{cal['mean_predicted']:.3f}/{cal['observed_rate']:.3f}",
        "Brier": f"{cal['brier']:.4f}",
        "const": f"{cal['brier_constant']:.4f}",
        "base rate": f"{cal.get('brier_base_rate', float('nan')):.4f}",
        "won": ap >= (best_ap or 0.0),
        "flags": f"{run['flagged']['became_core']}/{run['flagged']['count']}",
        "hit/base": _hit_over_base(run["flagged"]),
        "flags/mo": run["flagged"]["count"] / max(run["months"], 1),
    }


def _hit_over_base(flagged: dict) -> str:
    hit, base = flagged["hit_rate"], flagged["base_rate"]
    return "-" if hit is None or not base else f"{hit:.2f}/{base:.3f}"


def flags_text(runs: list[dict]) -> str:
    """Pooled flags: how many, how many came true, hit rate against the scored rows' base rate;
    per listener, flags per month."""
    count = sum(r["flagged"]["count"] for r in runs)
    hits = sum(r["flagged"]["became_core"] for r in runs)
    rows = sum(r["calibration"]["rows"] for r in runs)
    positives = sum(r["calibration"]["observed_rate"] * r["calibration"]["rows"] for r in runs)
    base = positives / max(rows, 1)
    per: dict[str, list[float]] = {}
    for r in runs:
        per.setdefault(r["history"], []).append(r["flagged"]["count"] / max(r["months"], 1))
    monthly = ", ".join(f"{h} {statistics.mean(v):.2f}" for h, v in per.items())
    hit = hits / count if count else float("nan")
    return (
        f"Flags pooled: {hits}/{count} came true, hit rate {hit:.3f} vs base rate {base:.3f} "
        f"({hit / base:.2f}x). Flags per month: {monthly}."
    )


def cold_start_text(runs: list[dict]) -> str:
    """The first COLD_START_MONTHS months of every history, pooled: calibration and flags."""
    parts = [r["cold_start"] for r in runs if "calibration" in (r.get("cold_start") or {})]
    cal = [p["calibration"] for p in parts if p["calibration"]["rows"]]
    if not cal:
        return "Cold start: no rows scored with probabilities."
    n = sum(c["rows"] for c in cal)

    def mean(key: str) -> float:
        return sum(c[key] * c["rows"] for c in cal) / n

    flagged = [p["flagged"] for p in parts]
    count, hits = sum(f["count"] for f in flagged), sum(f["became_core"] for f in flagged)
    lift = statistics.mean(p["models"]["project"]["lift"] or 0.0 for p in parts)
    fallback = statistics.mean(p["models"]["fallback"]["lift"] or 0.0 for p in parts)
    return (
        f"Cold start (first {COLD_START_MONTHS} months, {len(parts)} runs, {n} rows with odds): "
        f"mean lift {lift:.2f} (fallback {fallback:.2f}); ECE(mean of runs) "
        f"{statistics.mean(c['ece'] for c in cal):.4f}; predicted {mean('mean_predicted'):.4f} "
        f"vs observed {mean('observed_rate'):.4f}; Brier {mean('brier'):.4f} vs base rate at "
        f"the time {mean('brier_base_rate'):.4f}; flags {hits}/{count} came true."
    )


def pooled_calibration(runs: list[dict]) -> dict:
    """Row-weighted means over all runs: predicted, observed, Brier and both constants."""
    cal = [r["calibration"] for r in runs]
    n = sum(c["rows"] for c in cal)

    def mean(key: str) -> float:
        return sum(c[key] * c["rows"] for c in cal) / n

    from pipeline.calibration import expected_calibration_error

    keys = ("mean_predicted", "observed_rate", "brier", "brier_constant", "brier_base_rate")
    pairs = [pair for r in runs for pair in r["pairs"]]
    y, p = [a for a, _ in pairs], [b for _, b in pairs]
    return {k: mean(k) for k in keys} | {"rows": n, "ece": expected_calibration_error(y, p)}


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
        "brier_below_base_rate": sum(c["brier"] < c.get("brier_base_rate", 0.0) for c in cal),
        "pooled": pooled_calibration(runs),
        "runs": len(runs),
    }


COLUMNS = ["run", "pos/rows", "AP", "lift", "P@3", "best baseline", "ratio", "ECE", "ECE floor"]
COLUMNS += ["pred/obs"]
COLUMNS += ["Brier", "const", "base rate", "flags", "hit/base", "flags/mo"]


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
    lines += ["", flags_text(runs), "", cold_start_text(runs)]
    return "\n".join(lines) + "\n"


def summary_text(total: dict) -> str:
    """The summary row in words."""
    lifts = ", ".join(f"{m} {v:.2f}" for m, v in total["mean_lift"].items())
    p = total["pooled"]
    return (
        f"Mean lift over {total['runs']} runs: {lifts}. Project / best baseline "
        f"({total['best_baseline']}) mean lift: {total['ratio']:.2f}x. Project AP >= best "
        f"baseline's in {total['wins']}/{total['rated']} runs with >= 5 positives. ECE mean "
        f"{total['mean_ece']:.3f}, worst {total['max_ece']:.3f}. Brier below the constant "
        f"(hindsight: these rows' own rate) in {total['brier_below_constant']}/{total['runs']} "
        f"runs, below the base rate known at the time in {total['brier_below_base_rate']}/"
        f"{total['runs']}. Pooled over {p['rows']} rows: ECE {p['ece']:.4f}, predicted "
        f"{p['mean_predicted']:.4f} vs "
        f"observed {p['observed_rate']:.4f}; Brier {p['brier']:.4f} vs {p['brier_constant']:.4f} "
        f"(hindsight constant) and {p['brier_base_rate']:.4f} (base rate at the time)."
    )


def variant_text(runs: list[dict], name: str) -> str:
    """A variant's mean lift and AP wins over the best baseline, beside the project's."""
    lift = statistics.mean(r["models"][name]["lift"] or 0.0 for r in runs)
    base = max(statistics.mean(r["models"][b]["lift"] or 0.0 for r in runs) for b in BASELINES)
    rated = [r for r in runs if r["positives"] >= 5]
    wins = sum(
        (r["models"][name]["average_precision"] or 0.0)
        >= max(r["models"][b]["average_precision"] or 0.0 for b in BASELINES)
        for r in rated
    )
    aps = " ".join(f"{r['models'][name]['average_precision'] or 0.0:.3f}" for r in runs)
    return (
        f"{name}: mean lift {lift:.2f} ({lift / base:.2f}x best baseline), "
        f"AP >= best baseline in {wins}/{len(rated)}; APs {aps}"
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
    parser.add_argument(
        "--variants", default="", help=f"also rank with project variants: {', '.join(VARIANTS)}"
    )
    parser.add_argument(
        "--no-prior", action="store_true", help="without the cross-listener prior (as before)"
    )
    args = parser.parse_args()
    files = sorted(p for p in Path(args.histories).glob("*") if p.suffix in (".csv", ".json"))
    every = list(files)
    if args.only:
        files = [p for p in files if p.stem.split(".")[0] in args.only.split(",")]
    if not files:
        print(f"no histories in {args.histories}", file=sys.stderr)
        return 1
    offsets = [int(o) for o in args.offsets.split(",")]
    # largest histories first: the two processes finish together
    files.sort(key=lambda f: -f.stat().st_size)
    jobs = [(str(f), o) for f in files for o in offsets]
    version, started = code_version(), time.perf_counter()
    variants = tuple(v for v in args.variants.split(",") if v)
    with ProcessPoolExecutor(max(1, min(args.jobs, 2))) as pool:
        # leave-one-listener-out: each run's prior is trained on every other history
        priors = {} if args.no_prior else loo_priors(every, pool)
        futures = [
            pool.submit(
                cached_evaluate,
                h,
                o,
                version,
                not args.no_cache,
                variants,
                priors.get(Path(h).name.split(".")[0]),
            )
            for h, o in jobs
        ]
        runs = [f.result() for f in futures]
    print("  ".join(f"{c:>14}" for c in COLUMNS))
    for run in runs:
        fig = row_figures(run)
        secs = "cached" if run["cached"] else f"{run['seconds']:.0f}s"
        print("  ".join(f"{_cell(fig[c]):>14}" for c in COLUMNS) + f"  {secs}")
    total = summary(runs)
    print(summary_text(total))
    print(flags_text(runs))
    print(cold_start_text(runs))
    for name in sorted({m for r in runs for m in r["models"] if m.startswith("variant:")}):
        print(variant_text(runs, name))
    print(f"wall time {time.perf_counter() - started:.0f} s ({len(jobs)} runs)")
    if args.markdown:
        Path(args.markdown).write_text(markdown(runs, total), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
