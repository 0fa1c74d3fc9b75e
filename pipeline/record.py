"""Track record: how the predictions turned out, from stored live predictions or a backtest.

A prediction is about one artist-month M. It resolves when the label's horizon has passed
(months M+1 .. M+horizon are complete): "core" when the artist was core in one of them (a
trailing-window prediction, made during M, also counts M itself), else "not_core". Until then
it is open. Resolution follows the rule label only; the owner's verdicts train the model but
never rewrite what happened.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from pipeline.config import PipelineConfig
from pipeline.lazy import DeferredModule
from pipeline.periods import month_of, month_start
from pipeline.rules import same_month_counts

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:
    np = DeferredModule("numpy")
    pd = DeferredModule("pandas")

CORE, NOT_CORE = "core", "not_core"
# Probability bands of the calibration table: readable, and wide enough to hold a few rows.
BANDS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
RECENT = 10


@dataclass(frozen=True)
class Band:
    """Predictions with probability in [low, high): how many, mean predicted, observed rate."""

    low: float
    high: float
    predictions: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class Resolved:
    """One resolved flagged prediction, as the track record lists it."""

    artist: str
    month: str
    probability: float
    outcome: str  # "core" | "not_core"


@dataclass(frozen=True)
class MonthOutcomes:
    """The flagged predictions about one month: how many became core, didn't, are open."""

    month: str
    core: int
    not_core: int
    open: int


@dataclass(frozen=True)
class TrackRecord:
    """Flagged predictions and what became of them, beside the base rate and calibration.

    `source` is "live" (stored predictions), "backtest" (what the model would have said,
    month by month, on the stored history) or "none" (nothing to show yet).
    """

    source: str
    first_month: str | None
    last_month: str | None
    scored: int  # resolved predictions, flagged or not: the base rate's denominator
    flagged: int  # flagged predictions, resolved or open
    became_core: int  # flagged and became core
    did_not: int  # flagged and did not become core
    still_open: int  # flagged, horizon not passed yet
    hit_rate: float | None  # became_core / (became_core + did_not)
    base_rate: float | None  # share of all resolved predictions that became core
    bands: list[Band] = field(default_factory=list)
    recent: list[Resolved] = field(default_factory=list)  # newest first
    by_month: list[MonthOutcomes] = field(default_factory=list)  # flagged, oldest month first

    @property
    def lift(self) -> float | None:
        """Hit rate divided by the base rate."""
        if self.hit_rate is None or not self.base_rate:
            return None
        return self.hit_rate / self.base_rate

    def to_json(self) -> dict:
        """A JSON-ready dict (CLI --json, HTTP API); `from_json` reads it back."""
        return {**asdict(self), "lift": self.lift}

    @classmethod
    def from_json(cls, data: dict) -> TrackRecord:
        """The record `to_json` wrote."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["bands"] = [Band(**b) for b in data.get("bands", [])]
        values["recent"] = [Resolved(**r) for r in data.get("recent", [])]
        values["by_month"] = [MonthOutcomes(**m) for m in data.get("by_month", [])]
        return cls(**values)


def empty_record(source: str = "none") -> TrackRecord:
    """Nothing predicted yet."""
    return TrackRecord(source, None, None, 0, 0, 0, 0, 0, None, None)


def outcomes(rule_label: np.ndarray, core_now: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Outcome per prediction row: "core", "not_core" or None (open).

    `rule_label` is labels.rule_labels of the predicted artist-month (NaN until its horizon
    has passed), `core_now` whether the artist was core in that month itself.
    """
    label = np.asarray(rule_label, dtype="float64")
    hit = (label == 1) | (same_month_counts(window) & np.asarray(core_now, dtype=bool))
    out = np.where(hit, CORE, NOT_CORE).astype(object)
    out[np.isnan(label)] = None
    return out


def _bands(resolved: pd.DataFrame) -> list[Band]:
    p = resolved["probability"].to_numpy(dtype="float64")
    y = (resolved["outcome"] == CORE).to_numpy()
    which = np.clip(np.searchsorted(BANDS, p, side="right") - 1, 0, len(BANDS) - 2)
    out = []
    for b in range(len(BANDS) - 1):
        mask = which == b
        if mask.any():
            out.append(
                Band(
                    BANDS[b],
                    BANDS[b + 1],
                    int(mask.sum()),
                    float(p[mask].mean()),
                    float(y[mask].mean()),
                )
            )
    return out


def _by_month(flagged: pd.DataFrame) -> list[MonthOutcomes]:
    """Flagged predictions counted per month and outcome, oldest month first."""
    if flagged.empty:
        return []
    outcome = flagged["outcome"].where(flagged["outcome"].notna(), "open")
    counts = pd.crosstab(flagged["month"].astype(str), outcome.astype(str))
    counts = counts.reindex(columns=[CORE, NOT_CORE, "open"], fill_value=0).sort_index()
    return [
        MonthOutcomes(str(month), int(row[CORE]), int(row[NOT_CORE]), int(row["open"]))
        for month, row in counts.iterrows()
    ]


def track_record(predictions: pd.DataFrame, source: str, recent: int = RECENT) -> TrackRecord:
    """The track record of `predictions`: artist, month, probability, above_threshold,
    outcome ("core" | "not_core" | None open). Rows should be one per artist-month."""
    if predictions.empty:
        return empty_record(source)
    frame = predictions.assign(outcome=predictions["outcome"].astype(object))
    done = frame["outcome"].notna().to_numpy()
    flagged = frame["above_threshold"].to_numpy(dtype=bool)
    resolved = frame[done]
    hits = int((flagged & (frame["outcome"] == CORE).to_numpy()).sum())
    misses = int((flagged & (frame["outcome"] == NOT_CORE).to_numpy()).sum())
    listed = frame[flagged & done].sort_values(
        ["month", "probability"], ascending=[False, False], kind="stable"
    )
    months = frame["month"].astype(str)
    return TrackRecord(
        source=source,
        first_month=months.min(),
        last_month=months.max(),
        scored=len(resolved),
        flagged=int(flagged.sum()),
        became_core=hits,
        did_not=misses,
        still_open=int((flagged & ~done).sum()),
        hit_rate=hits / (hits + misses) if hits + misses else None,
        base_rate=float((resolved["outcome"] == CORE).mean()) if len(resolved) else None,
        bands=_bands(resolved),
        recent=[
            Resolved(str(r.artist), str(r.month), float(r.probability), str(r.outcome))
            for r in listed.head(recent).itertuples()
        ],
        by_month=_by_month(frame[flagged]),
    )


def backtest_predictions(result) -> pd.DataFrame:
    """A BacktestResult's predictions as track-record rows (artist, month, probability,
    above_threshold, outcome). Every backtest row is labelled, hence resolved; months the
    fallback ranking scored carry no probability and are left out."""
    preds = result.predictions
    preds = preds[np.isfinite(preds["probability"].to_numpy(dtype="float64"))]
    label = preds["label"].to_numpy(dtype="float64")
    return pd.DataFrame(
        {
            "artist": preds["artist"].to_numpy(dtype=object),
            "month": preds["month"].astype(str).to_numpy(dtype=object),
            "probability": preds["probability"].to_numpy(dtype="float64"),
            "above_threshold": preds["above_threshold"].to_numpy(dtype=bool),
            "outcome": outcomes(
                label, np.zeros(len(preds), dtype=bool), np.full(len(preds), "month")
            ),
        }
    )


def _closed(scrobbles: pd.DataFrame, now: int) -> pd.DataFrame:
    """Scrobbles of the complete months (UTC, as backtests of files use) before `now`."""
    start = month_start(month_of(int(now)))
    return scrobbles[scrobbles["ts"].to_numpy(dtype="int64") < start]


def backtest_key(scrobbles: pd.DataFrame, now: int, cfg: PipelineConfig | None = None) -> str:
    """What a backtest track record depends on: the complete months' scrobbles and the config."""
    closed = _closed(scrobbles, now)
    ts = closed["ts"].to_numpy(dtype="int64")
    span = f"{len(ts)}|{ts.min() if len(ts) else '-'}|{ts.max() if len(ts) else '-'}"
    digest = hashlib.sha256(f"{cfg or PipelineConfig()!r}|{span}".encode())
    digest.update(pd.util.hash_pandas_object(closed["ts"], index=False).to_numpy())
    return digest.hexdigest()


def backtest_record(
    scrobbles: pd.DataFrame, now: int, cfg: PipelineConfig | None = None
) -> TrackRecord:
    """ "Had I been running since ...": the walk-forward backtest of the complete months."""
    from pipeline.backtest import run_backtest  # heavy (models); only this path needs it
    from pipeline.prior import shipped_prior

    cfg = cfg or PipelineConfig()
    closed = _closed(scrobbles, now)
    if closed.empty:
        return empty_record("backtest")
    # the same odds and flag policy as the live model, so /record judges what /candidates shows
    result = run_backtest(closed, cfg, baselines=False, prior=shipped_prior())
    return track_record(backtest_predictions(result), "backtest")
