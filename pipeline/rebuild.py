"""The rebuild's decisions as one pure function: history in, everything to store out.

(scrobbles, feedback, previous model, open predictions, now, time zone) → fingerprint,
train-or-reuse, scored candidates and reasons, per-artist status, predictions to record,
resolutions of open predictions, first-time core artists. No I/O: `bot/services/rebuild.py`
loads the inputs and stores the results.

Predictions recorded: every scored artist of the "month" window (the complete month, the rows
the model is trained, thresholded and calibrated on), flagged or not, so the track record has
its base rate; and the trailing window's flagged artists, so a breakout within the month can
say "I flagged it on 3 Nov". One per (window, artist, month): the store keeps the first.
Fallback runs (no model) record nothing: their scores are rankings, not probabilities.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pipeline import closed_months
from pipeline.closed_months import ClosedMonths
from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory
from pipeline.labels import add_labels, rule_labels
from pipeline.limits import check_rebuild_size
from pipeline.periods import DAY, Zone, label_codes, month_labels, month_of, month_start, zone
from pipeline.prior import Prior, shipped_prior
from pipeline.record import CORE, TrackRecord, backtest_key, backtest_record, outcomes
from pipeline.rules import core_resolves
from pipeline.score import (
    Scored,
    before,
    empty_scored,
    monthly_table,
    one_list,
    score_artists,
    trailing_table,
)
from pipeline.status import STATUS_COLUMNS, artist_status
from pipeline.train import ModelBundle, train_model

PREDICTION_COLUMNS = [
    "window",
    "month",
    "artist_key",
    "artist",
    "probability",
    "above_threshold",
    "plays",
]
NO_HISTORY = "not enough history yet: 0 months, 0 breakouts"
# Under this much history the fallback ranking; from it on the cross-listener prior gives odds.
PRIOR_MIN_DAYS = 30


@dataclass
class RebuildResult:
    """Everything one rebuild decided; the service stores it as it is."""

    fingerprint: str
    bundle: ModelBundle | None
    trained: bool
    message: str  # why there is no model ("" when there is one)
    scored: Scored
    status: pd.DataFrame  # STATUS_COLUMNS, one row per artist
    predictions: pd.DataFrame  # PREDICTION_COLUMNS
    resolutions: pd.DataFrame  # id, outcome, core_month
    breakouts: pd.DataFrame  # artist_key, month (first core month), plays
    timings: dict[str, float] = field(default_factory=dict)
    backtest: tuple[str, TrackRecord] | None = None  # (key, record) when it had to be redone
    closed: ClosedMonths | None = None  # the closed months to keep (`keep_closed`)


def plan_backtest_record(
    scrobbles: pd.DataFrame, now: int, cfg: PipelineConfig, cached_key: str | None
) -> tuple[str, TrackRecord] | None:
    """The backtest track record and its key, None when `cached_key` is still current."""
    key = backtest_key(scrobbles, now, cfg)
    return None if key == cached_key else (key, backtest_record(scrobbles, now, cfg))


def fingerprint(
    labelled: pd.DataFrame,
    feedback: pd.DataFrame,
    cfg: PipelineConfig,
    tz: Zone,
    prior: Prior | None = None,
) -> str:
    """Hash of everything training reads: every labelled row of the training pool and of the
    eligible rows after the cold start (features, labels, months), the feedback, the config,
    and which cross-listener prior (if any)."""
    pool = labelled[cfg.train_pool].to_numpy(dtype=bool) | labelled["eligible"].to_numpy(dtype=bool)
    keep = pool & labelled["label"].notna().to_numpy()
    keep &= labelled["period"].to_numpy() >= cfg.cold_start_months
    rows = labelled[keep].drop(columns=["artist"])
    digest = hashlib.sha256()
    digest.update(f"{cfg!r}|{zone(tz)}|{len(rows)}|{list(rows.columns)}".encode())
    if prior is not None:
        digest.update(f"prior|{prior.manifest.get('created_at')}|{prior.manifest['rows']}".encode())
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy())
    digest.update(pd.util.hash_pandas_object(feedback, index=False).to_numpy())
    return digest.hexdigest()


def choose_model(
    labelled: pd.DataFrame,
    previous: ModelBundle | None,
    fp: str,
    cfg: PipelineConfig,
    force: bool,
    prior: Prior | None = None,
) -> tuple[ModelBundle | None, bool, str]:
    """(bundle, trained, message): the previous model if its fingerprint matches, else a new one
    (weighed against `prior`; without one, too few breakouts leave no model)."""
    if previous is not None and not force and previous.metadata.get("fingerprint") == fp:
        return previous, False, ""
    try:
        bundle = train_model(labelled, cfg, prior=prior)
    except NotEnoughHistory as exc:
        return None, False, str(exc)
    bundle.metadata["fingerprint"] = fp
    return bundle, True, ""


def to_record(scored: Scored, bundle: ModelBundle | None) -> pd.DataFrame:
    """The predictions a run records: the whole month window, the trailing window's flags."""
    cands = scored.candidates
    if bundle is None or cands.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS})
    keep = (cands["window"] == "month").to_numpy() | cands["above_threshold"].to_numpy(dtype=bool)
    return cands.loc[keep, PREDICTION_COLUMNS].reset_index(drop=True)


def resolve(
    open_predictions: pd.DataFrame, monthly: pd.DataFrame, cfg: PipelineConfig
) -> pd.DataFrame:
    """Outcomes of the open predictions whose horizon has passed: id, outcome, core_month."""
    empty = pd.DataFrame({"id": pd.Series(dtype="int64"), "outcome": [], "core_month": []})
    if open_predictions is None or open_predictions.empty or monthly.empty:
        return empty
    cells = monthly[["artist_key", "month", "is_core"]].assign(rule=rule_labels(monthly, cfg))
    merged = open_predictions.merge(cells, on=["artist_key", "month"], how="inner")
    outcome = outcomes(merged["rule"], merged["is_core"], merged["window"])
    merged = merged.assign(outcome=outcome)[pd.notna(outcome)]
    if merged.empty:
        return empty
    core = monthly.loc[monthly["is_core"].to_numpy(), ["artist_key", "month"]]
    core_keys = core["artist_key"].astype(str) + "|" + core["month"].astype(str)
    base = label_codes(merged["month"])
    core_month = np.full(len(merged), None, dtype=object)
    for step in range(cfg.horizon, -1, -1):  # the earliest core month wins
        month = pd.Series(month_labels(base + step))
        key = merged["artist_key"].astype(str).to_numpy() + "|" + month.to_numpy()
        hit = np.isin(key, core_keys.to_numpy()) & (merged["outcome"] == CORE).to_numpy()
        hit &= core_resolves(step, merged["window"].to_numpy(), cfg)
        core_month = np.where(hit, month.to_numpy(), core_month)
    return pd.DataFrame(
        {
            "id": merged["id"].to_numpy(dtype="int64"),
            "outcome": merged["outcome"].to_numpy(dtype=object),
            "core_month": core_month,  # missing: NaN
        }
    )


def first_cores(status: pd.DataFrame, monthly: pd.DataFrame) -> pd.DataFrame:
    """Every artist ever core: its first core month and its plays in that month."""
    hit = status[status["first_core_month"].notna().to_numpy()]
    plays = monthly[["artist_key", "month", "plays_t"]].rename(
        columns={"month": "first_core_month"}
    )
    out = hit[["artist_key", "first_core_month", "plays_month", "month"]].merge(
        plays, on=["artist_key", "first_core_month"], how="left"
    )
    current = (out["first_core_month"] == out["month"]).to_numpy()
    return pd.DataFrame(
        {
            "artist_key": out["artist_key"].to_numpy(dtype=object),
            "month": out["first_core_month"].to_numpy(dtype=object),
            "plays": np.where(current, out["plays_month"], out["plays_t"].fillna(0)).astype(
                "int64"
            ),
        }
    )


def _status(
    scrobbles: pd.DataFrame, monthly, trailing, last_played, now: int, tz: Zone, cfg
) -> pd.DataFrame:
    if month_of(now, tz) != month_of(now - 1, tz):
        # `now` is midnight on the 1st: the month in progress has begun but has no period yet
        monthly = monthly_table(scrobbles, cfg, now + 1, tz)
    start = month_start(month_of(now, tz), tz)
    so_far = int(np.count_nonzero(scrobbles["ts"].to_numpy(dtype="int64") >= start))
    return artist_status(monthly, trailing, last_played, so_far, cfg)


def _tables(recent: pd.DataFrame, cfg, now: int, tz: Zone, closed: ClosedMonths | None):
    """(calendar table, trailing table): from the whole history, or from the recent plays and
    the kept closed months."""
    if closed is None:
        return monthly_table(recent, cfg, now, tz), trailing_table(recent, cfg, now)
    monthly = closed_months.with_open_month(closed, recent, cfg, now, tz)
    start = closed.recent_start(now, cfg)
    return monthly, trailing_table(recent, cfg, now, seen_before=closed.seen_before(start))


def _newest_plays(recent: pd.DataFrame, now: int, tz: Zone, closed, keep_closed: bool):
    """(artist_key -> newest play, the same before the open month when closed months are to be
    kept, else None)."""
    if closed is not None:
        return closed_months.last_played(closed, recent), None
    split = closed_months.open_start(now, tz) if keep_closed else None
    return closed_months.newest_plays(recent, split)


def _empty_result(now: int, cfg: PipelineConfig, tz: Zone) -> RebuildResult:
    none = pd.DataFrame({c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS})
    return RebuildResult(
        fingerprint="",
        bundle=None,
        trained=False,
        message=NO_HISTORY,
        scored=empty_scored(now, cfg, tz),
        status=pd.DataFrame({c: pd.Series(dtype=object) for c in STATUS_COLUMNS}),
        predictions=none,
        resolutions=resolve(None, pd.DataFrame(), cfg),
        breakouts=pd.DataFrame({"artist_key": [], "month": [], "plays": []}),
    )


def plan_rebuild(
    scrobbles: pd.DataFrame,
    feedback: pd.DataFrame,
    previous: ModelBundle | None,
    now: int,
    tz: Zone = None,
    cfg: PipelineConfig | None = None,
    *,
    open_predictions: pd.DataFrame | None = None,
    force_train: bool = False,
    retrain: bool = True,
    backtest_cached: str | bool | None = False,
    closed: ClosedMonths | None = None,
    keep_closed: bool = False,
) -> RebuildResult:
    """Features → labels → train or reuse → score → status, predictions, resolutions.

    `feedback`: artist_key, month, verdict. `open_predictions`: id, window, artist_key, month
    of the stored predictions not resolved yet. Months are calendar months in `tz`.
    `retrain=False` is the rescore after a sync: `previous` scores as it is (no fingerprint,
    no training; None gives the fallback ranking), everything else is decided as usual.
    `backtest_cached`: the stored backtest record's key (None: none stored) to refresh the
    backtest track record as well; False (the default) leaves it alone.
    `closed` (a rescore only): the closed months kept by an earlier run for this `now`'s month;
    `scrobbles` then only need the plays since `closed.recent_start(now, cfg)`, and everything
    decided is what the whole history gives. `keep_closed`: return the closed months to keep.
    """
    if closed is not None and (retrain or not closed_months.usable(now, tz)):
        raise ValueError("closed months serve a rescore within the month they were kept for")
    cfg = cfg or PipelineConfig()
    recent = before(scrobbles, now)
    if recent.empty:
        return _empty_result(now, cfg, tz)
    check_rebuild_size(recent, cfg)  # one line, not an out-of-memory kill
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        timings[stage] = time.perf_counter() - clock
        clock = time.perf_counter()

    monthly, trailing = _tables(recent, cfg, now, tz, closed)
    lap("features")
    if retrain:
        # the labelled copy serves as the table from here on: one ~150 MB table alive on 1M, not two
        labelled = monthly = add_labels(monthly, cfg, feedback)
        lap("labels")
        # a month of history or more: odds from the cross-listener prior until the listener's
        # own breakouts weigh in; less than that: the fallback ranking
        first = int(recent["ts"].min())
        prior = shipped_prior() if now - first >= PRIOR_MIN_DAYS * DAY else None
        fp = fingerprint(labelled, feedback, cfg, tz, prior)
        bundle, trained, message = choose_model(labelled, previous, fp, cfg, force_train, prior)
        lap("train")
    else:
        labelled, bundle, trained, message = monthly, previous, False, ""
        fp = "" if previous is None else str(previous.metadata.get("fingerprint", ""))
    scored = score_artists(recent, bundle, cfg, now, monthly=labelled, trailing=trailing, tz=tz)
    last_played, closed_last = _newest_plays(recent, now, tz, closed, keep_closed)
    status = _status(recent, monthly, trailing, last_played, now, tz, cfg)
    # The one list leaves out artists already core this month: their news is a breakout moment.
    core_now = status.loc[status["core_now"].to_numpy(dtype=bool), "artist_key"]
    scored = replace(scored, candidates=one_list(scored.candidates, core_now))
    result = RebuildResult(
        fingerprint=fp,
        bundle=bundle,
        trained=trained,
        message=message,
        scored=scored,
        status=status,
        predictions=to_record(scored, bundle),
        resolutions=resolve(open_predictions, monthly, cfg),
        breakouts=first_cores(status, monthly),
    )
    if closed_last is not None:
        result.closed = closed_months.closed_months(monthly, closed_last, now, tz)
    lap("score")
    if backtest_cached is not False:
        result.backtest = plan_backtest_record(scrobbles, now, cfg, backtest_cached or None)
        lap("backtest")
    result.timings = timings
    return result
