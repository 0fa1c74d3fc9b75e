"""Rebuild and rescore: load the inputs, let `pipeline.rebuild.plan_rebuild` decide, store.

A rebuild may retrain; a rescore (after every sync that stored plays) scores with the stored
model as it is, so the list, the status and the cards follow today's plays within a second.
Synchronous on purpose: the bot runs them in `asyncio.to_thread`, the CLI calls them directly.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert

from bot.db.models import ModelRun
from bot.db.scrobbles import load_scrobbles, scrobbles_before
from bot.db.session import make_sync_engine
from bot.services.record import store_live_record
from bot.timeutil import utc_now
from pipeline import closed_months
from pipeline.closed_months import ClosedMonths
from pipeline.config import PipelineConfig
from pipeline.errors import UserError
from pipeline.periods import add_months
from pipeline.rebuild import RebuildResult, plan_backtest_record, plan_rebuild
from pipeline.score import Scored, as_unix
from pipeline.status import STATUS_COLUMNS
from pipeline.train import ModelBundle, load_bundle, save_bundle

log = logging.getLogger(__name__)
KEEP_RUNS = 50
# Runs younger than this are kept whatever their number: a rescore follows every sync, and a
# card's Confirm/Dismiss buttons carry the candidate id of the run that showed it (lists and
# pushes carry artist ids, which never go stale). An older press is answered as stale.
KEEP_DAYS = 2
STAGES = ("load", "features", "labels", "train", "score", "store", "backtest")


@dataclass
class RebuildReport:
    """Outcome of one rebuild: the stored run, whether a model was trained, stage timings."""

    run_id: int
    status: str  # "model" | "fallback"
    message: str
    model_name: str | None
    threshold: float | None
    scored_month: str
    trained: bool
    scrobbles: int
    candidates: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        """Wall time of all stages."""
        return sum(self.timings.values())

    def summary(self) -> str:
        """One line for logs and the CLI."""
        model = f"{self.model_name}, {'retrained' if self.trained else 'reused'}"
        what = model if self.status == "model" else "fallback ranking"
        counts = ", ".join(f"{n} {w}" for w, n in self.candidates.items())
        return f"run {self.run_id}: {what}; candidates {counts}; {self.total_seconds:.1f} s"


def load_feedback(conn: Connection) -> pd.DataFrame:
    """Feedback as the pipeline wants it: artist_key, month, verdict."""
    return pd.read_sql_query(
        "SELECT a.key AS artist_key, f.month AS month, f.verdict AS verdict "
        "FROM feedback f JOIN artists a ON a.id = f.artist_id ORDER BY f.id",
        conn.connection.driver_connection,
        dtype={"verdict": "int64"},
    )


def load_open_predictions(conn: Connection) -> pd.DataFrame:
    """Stored predictions not resolved yet: id, window, artist_key, month."""
    return pd.read_sql_query(
        "SELECT p.id AS id, p.window AS window, a.key AS artist_key, p.month AS month "
        "FROM predictions p JOIN artists a ON a.id = p.artist_id WHERE p.outcome IS NULL",
        conn.connection.driver_connection,
        dtype={"id": "int64"},
    )


def load_previous_model(model_dir: Path) -> ModelBundle | None:
    """The saved model; a foreign or damaged artifact is never loaded (it gets replaced)."""
    try:
        return load_bundle(model_dir)
    except UserError as exc:
        log.warning("ignoring the saved model: %s", exc)
        return None


def _metrics(bundle: ModelBundle) -> dict:
    """The chosen model's validation and test metrics (JSON-ready)."""
    chosen = bundle.metadata.get("metrics", {}).get(bundle.kind, {})
    # The chat says so plainly when the odds were pulled toward the base rate (few breakouts),
    # and that nobody stands out when no odds are clearly above it.
    shrunk = bool(bundle.metadata.get("calibration", {}).get("shrunk", False))
    extra = {"shrunk_to_base_rate": shrunk, "base_rate": bundle.metadata.get("base_rate")}
    if "evidence" in bundle.metadata:
        extra["evidence"] = bundle.metadata["evidence"]
    return json.loads(json.dumps({**chosen, **extra}, default=str))


def _trained_at(bundle: ModelBundle) -> datetime | None:
    created = bundle.metadata.get("created_at")
    return datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None


def _artist_ids(conn: Connection) -> dict[str, int]:
    """key -> id of every artist (one query; the pipeline's frames carry keys)."""
    return dict(conn.exec_driver_sql("SELECT key, id FROM artists").all())


def _ids(keys: pd.Series, ids: dict[str, int]) -> list[int]:
    return keys.map(ids).astype("int64").tolist()


def _store_candidates(
    conn: Connection, run_id: int, scored: Scored, ids: dict[str, int]
) -> dict[str, int]:
    """Candidate and reason rows, with explicit ids allocated under the write lock."""
    cands = scored.candidates
    next_id = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM candidates").scalar()) + 1
    cand_ids = np.arange(next_id, next_id + len(cands), dtype="int64")
    cand_rows = list(
        zip(
            cand_ids.tolist(),
            [run_id] * len(cands),
            _ids(cands["artist_key"], ids),
            cands["month"].tolist(),
            cands["window"].tolist(),
            cands["probability"].astype("float64").tolist(),
            cands["rank"].astype("int64").tolist(),
            cands["above_threshold"].astype(bool).tolist(),
            cands["first_seen_ts"].astype("int64").tolist(),
            cands["plays"].astype("int64").tolist(),
            strict=True,
        )
    )
    lookup = pd.Series(cand_ids, index=pd.MultiIndex.from_frame(cands[["window", "artist_key"]]))
    reasons = scored.reasons
    reason_cand = lookup.reindex(pd.MultiIndex.from_frame(reasons[["window", "artist_key"]]))
    value = reasons["value"].astype("float64")
    reason_rows = list(
        zip(
            reason_cand.astype("int64").tolist(),
            reasons["position"].astype("int64").tolist(),
            reasons["feature"].tolist(),
            [None if math.isnan(v) else v for v in value.tolist()],
            reasons["contribution"].astype("float64").tolist(),
            reasons["sentence"].tolist(),
            strict=True,
        )
    )
    if cand_rows:
        conn.exec_driver_sql(
            "INSERT INTO candidates (id, run_id, artist_id, month, window, probability, rank, "
            "above_threshold, first_seen_ts, plays) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            cand_rows,
        )
    if reason_rows:
        conn.exec_driver_sql(
            "INSERT INTO candidate_reasons (candidate_id, position, feature, value, contribution, "
            "sentence) VALUES (?, ?, ?, ?, ?, ?)",
            reason_rows,
        )
    counts = cands["window"].value_counts().to_dict()
    return {w: int(counts.get(w, 0)) for w in ("trailing", "month")}


def _store_predictions(
    conn: Connection, run_id: int, result: RebuildResult, ids: dict[str, int], at: str
) -> None:
    """New predictions (the first one per window, artist and month wins), then resolutions."""
    preds, bundle = result.predictions, result.bundle
    if len(preds) and bundle is not None:
        rows = zip(
            _ids(preds["artist_key"], ids),
            preds["artist"].tolist(),
            preds["window"].tolist(),
            preds["month"].tolist(),
            preds["probability"].astype("float64").tolist(),
            preds["above_threshold"].astype(bool).tolist(),
            preds["plays"].astype("int64").tolist(),
            strict=True,
        )
        conn.exec_driver_sql(
            "INSERT INTO predictions (artist_id, artist_name, window, month, probability, "
            "above_threshold, plays, threshold, model_name, run_id, made_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (window, artist_id, month) DO NOTHING",
            [(*r, float(bundle.threshold), bundle.kind, run_id, at) for r in rows],
        )
    res = result.resolutions
    if len(res):
        conn.exec_driver_sql(
            "UPDATE predictions SET outcome = ?, core_month = ?, resolved_at = ? "
            "WHERE id = ? AND outcome IS NULL",
            list(
                zip(
                    res["outcome"].tolist(),
                    [_plain(v) for v in res["core_month"].tolist()],
                    [at] * len(res),
                    res["id"].astype("int64").tolist(),
                    strict=True,
                )
            ),
        )


def _store_status(
    conn: Connection, run_id: int, result: RebuildResult, ids: dict[str, int], at: str
) -> None:
    """Replace the per-artist status; add first-time core artists to `breakouts`."""
    status = result.status
    conn.exec_driver_sql("DELETE FROM artist_status")
    if len(status):
        cols = [c for c in STATUS_COLUMNS if c != "artist_key"]
        values = [_plain_column(status[c]) for c in cols]
        conn.exec_driver_sql(
            f"INSERT INTO artist_status (artist_id, run_id, {', '.join(cols)}) "
            f"VALUES ({', '.join('?' * (len(cols) + 2))})",
            [
                (a, run_id, *r)
                for a, *r in zip(_ids(status["artist_key"], ids), *values, strict=True)
            ],
        )
    found = result.breakouts
    if not len(found):
        return
    # The first rebuild that sees any core artist only takes stock: nothing is news yet.
    first_time = not conn.exec_driver_sql("SELECT 1 FROM breakouts LIMIT 1").first()
    recent = add_months(str(status["month"].iloc[0]), -1)
    historical = first_time | (found["month"] < recent).to_numpy()
    conn.exec_driver_sql(
        "INSERT INTO breakouts (artist_id, month, plays, detected_at, run_id, historical) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (artist_id) DO NOTHING",
        list(
            zip(
                _ids(found["artist_key"], ids),
                found["month"].tolist(),
                found["plays"].astype("int64").tolist(),
                [at] * len(found),
                [run_id] * len(found),
                historical.tolist(),
                strict=True,
            )
        ),
    )


def sql_time(value: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores DateTime in SQLite (naive, UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _plain_column(values: pd.Series) -> list:
    """A column as SQLite values in one vectorized pass: Python scalars, None where missing
    (per value, `_plain` took 4 s of a 1M-scrobble rebuild's 36k status rows)."""
    return values.astype(object).where(values.notna(), None).tolist()


def _plain(value: object) -> object:
    """numpy scalars and missing values (NaN, NA) as SQLite values."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _run_fields(bundle: ModelBundle | None) -> dict[str, Any]:
    """How a run is described, in the table and in the report: model or fallback."""
    return {
        "status": "model" if bundle else "fallback",
        "model_name": bundle.kind if bundle else None,
        "threshold": float(bundle.threshold) if bundle else None,
    }


def _store(
    conn: Connection, result: RebuildResult, created_at: datetime, tz: str
) -> tuple[int, dict[str, int]]:
    """Insert the run and everything it decided, prune old runs (caller's transaction)."""
    bundle = result.bundle
    run_id = conn.execute(
        insert(ModelRun)
        .values(
            created_at=created_at,
            message=result.message,
            scored_month=result.scored.month,
            metrics_json=json.dumps(_metrics(bundle) if bundle else {}),
            trained_at=_trained_at(bundle) if bundle else None,
            timezone=tz,
            **_run_fields(bundle),
        )
        .returning(ModelRun.id)
    ).scalar_one()
    ids = _artist_ids(conn)
    at = sql_time(created_at)
    counts = _store_candidates(conn, run_id, result.scored, ids)
    _store_predictions(conn, run_id, result, ids, at)
    _store_status(conn, run_id, result, ids, at)
    conn.exec_driver_sql(
        "DELETE FROM model_runs WHERE id NOT IN "
        f"(SELECT id FROM model_runs ORDER BY id DESC LIMIT {KEEP_RUNS}) AND created_at <= ?",
        (sql_time(created_at - timedelta(days=KEEP_DAYS)),),
    )
    return int(run_id), counts


def _live_resolved(conn: Connection) -> int:
    """How many stored month-window predictions are resolved."""
    sql = "SELECT COUNT(*) FROM predictions WHERE window = 'month' AND outcome IS NOT NULL"
    return int(conn.exec_driver_sql(sql).scalar())


def _backtest_cached(conn: Connection) -> str | bool | None:
    """The stored backtest record's key (None: none), False when live results replace it."""
    if _live_resolved(conn):
        return False
    return conn.exec_driver_sql(
        "SELECT fingerprint FROM track_record_cache WHERE kind = 'backtest'"
    ).scalar()


def refresh_backtest_record(conn: Connection, scrobbles: pd.DataFrame, now: int, cfg) -> bool:
    """Store the backtest track record unless live results exist or it is up to date (the
    rebuild's own pure step, `plan_backtest_record`, for `breakout record`)."""
    cached = _backtest_cached(conn)
    if cached is False:
        return False
    planned = plan_backtest_record(scrobbles, now, cfg, cached)
    if planned is None:
        return False
    _store_backtest(conn, *planned, now)
    return True


def _store_backtest(conn: Connection, key: str, record, now: int) -> None:
    conn.exec_driver_sql(
        "INSERT INTO track_record_cache (kind, fingerprint, created_at, payload) "
        "VALUES ('backtest', ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, created_at = excluded.created_at, "
        "payload = excluded.payload",
        (key, sql_time(datetime.fromtimestamp(now, UTC)), json.dumps(record.to_json())),
    )


@dataclass
class _History:
    """The scrobbles a run reads, and what it knows about the closed months."""

    scrobbles: pd.DataFrame  # every visible scrobble, or those from kept.recent_start on
    kept: ClosedMonths | None  # closed months kept by an earlier run (a rescore only)
    key: str | None  # what this run's closed months are built from (None: keep nothing)
    total: int  # visible scrobbles in the whole history


def _closed_key(conn: Connection, now: int, tz: str, cfg: PipelineConfig) -> tuple[str, int]:
    """What the closed months of a run at `now` are built from (the scrobbles before the open
    month, the code, the config and the time zone), and how many scrobbles precede the open
    month."""
    start = closed_months.open_start(now, tz)
    count, newest, ts_sum, artist_sum = scrobbles_before(conn, start)
    data = f"{start}|{count}|{newest}|{ts_sum}|{artist_sum}"
    return f"{closed_months.FORMAT}|{closed_months.code_version()}|{data}|{tz}|{cfg!r}", count


def _load_history(
    conn: Connection, model_dir: Path, now: int, tz: str, cfg: PipelineConfig, whole: bool
) -> _History:
    """A rescore (not `whole`) whose closed months are kept reads the recent plays only;
    anything else reads the whole history. The key is read before and after the scrobbles: if
    one arrived in a closed month meanwhile, the whole history is read and nothing is kept."""
    if not closed_months.usable(now, tz):  # midnight on the 1st: the month has no period yet
        scrobbles = load_scrobbles(conn)
        return _History(scrobbles, None, None, len(scrobbles))
    key, count = _closed_key(conn, now, tz, cfg)
    kept = None if whole else closed_months.load(model_dir / closed_months.FILE_NAME, key)
    if kept is not None:
        scrobbles = load_scrobbles(conn, since=kept.recent_start(now, cfg))
        recent = bool((scrobbles["ts"].to_numpy() < now).any())
        if recent and _closed_key(conn, now, tz, cfg)[0] == key:
            opened = int(np.count_nonzero(scrobbles["ts"].to_numpy() >= kept.open_start))
            return _History(scrobbles, kept, None, count + opened)
    scrobbles = load_scrobbles(conn)
    stable = _closed_key(conn, now, tz, cfg)[0] == key
    return _History(scrobbles, None, key if stable else None, len(scrobbles))


def _keep_closed(result: RebuildResult, key: str | None, model_dir: Path) -> None:
    """Save the closed months this run built, for the rescores of the month."""
    if key is None or result.closed is None:
        return
    try:
        closed_months.save(replace(result.closed, key=key), model_dir / closed_months.FILE_NAME)
    except OSError as exc:  # the next rescore reads the whole history instead
        log.warning("could not keep the closed months: %s", exc)


def rebuild(
    db_url: str,
    model_dir: str | Path,
    cfg: PipelineConfig | None = None,
    now: datetime | float | None = None,
    force_train: bool = False,
    *,
    tz: str | None = None,
    track_record: bool = False,
    retrain: bool = True,
) -> RebuildReport:
    """Load, plan (pipeline.rebuild.plan_rebuild), store one run; months in `tz` (the owner's).

    `track_record`: also refresh the backtest track record (seconds to minutes; the nightly
    job asks for it, `breakout record` computes it when missing). `retrain=False`: see `rescore`.
    """
    cfg = cfg or PipelineConfig()
    tz_name = tz or "UTC"
    now_ts = as_unix(utc_now() if now is None else now)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as conn:
            history = _load_history(
                conn, Path(model_dir), now_ts, tz_name, cfg, retrain or track_record
            )
            feedback = load_feedback(conn)
            open_preds = load_open_predictions(conn)
            cached = _backtest_cached(conn) if track_record else False
        previous = load_previous_model(Path(model_dir))
        timings["load"] = time.perf_counter() - clock
        result = plan_rebuild(
            history.scrobbles,
            feedback,
            previous,
            now_ts,
            tz_name,
            cfg,
            open_predictions=open_preds,
            force_train=force_train,
            retrain=retrain,
            backtest_cached=cached,
            closed=history.kept,
            keep_closed=history.key is not None,
        )
        if not retrain and result.bundle is None:
            result.message = _last_message(engine) or result.message
        timings.update(result.timings)
        clock = time.perf_counter()
        if result.trained and result.bundle is not None:
            save_bundle(result.bundle, model_dir)
        _keep_closed(result, history.key, Path(model_dir))
        created = datetime.fromtimestamp(now_ts, UTC)
        with engine.begin() as conn:
            run_id, counts = _store(conn, result, created, tz_name)
            store_live_record(conn, sql_time(created))  # what /record and /status read
            if result.backtest is not None:
                _store_backtest(conn, *result.backtest, now_ts)
        timings["store"] = time.perf_counter() - clock
    finally:
        engine.dispose()
    return RebuildReport(
        run_id=run_id,
        message=result.message,
        scored_month=result.scored.month,
        trained=result.trained,
        scrobbles=history.total,
        candidates=counts,
        timings=timings,
        **_run_fields(result.bundle),
    )


def rescore(
    db_url: str,
    model_dir: str | Path,
    cfg: PipelineConfig | None = None,
    now: datetime | float | None = None,
    *,
    tz: str | None = None,
) -> RebuildReport:
    """Score with the stored model as it is (never trains): candidates, status, predictions,
    resolutions and breakouts follow the plays stored since the last run. Without a stored
    model the fallback ranking is scored and the last run's reason for it is kept."""
    return rebuild(db_url, model_dir, cfg, now, tz=tz, retrain=False)


def _last_message(engine) -> str | None:
    """Why the latest run had no model ("not enough history yet: ..."), None before any run."""
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT message FROM model_runs ORDER BY id DESC LIMIT 1"
        ).scalar()
