"""Rebuild: scrobbles and feedback → features → labels → (re)train → score → stored run.

Synchronous on purpose: the bot runs it in `asyncio.to_thread`, the CLI calls it directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert

from bot.db.models import ModelRun
from bot.db.scrobbles import load_scrobbles
from bot.db.session import make_sync_engine
from pipeline.config import PipelineConfig
from pipeline.errors import NotEnoughHistory, UserError
from pipeline.labels import add_labels
from pipeline.score import Scored, as_unix, empty_scored, monthly_table, score_artists
from pipeline.train import ModelBundle, load_bundle, save_bundle, train_model, training_rows

log = logging.getLogger(__name__)
KEEP_RUNS = 50
STAGES = ("load", "features", "labels", "train", "score", "store")


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


def fingerprint(labelled: pd.DataFrame, feedback: pd.DataFrame, cfg: PipelineConfig) -> str:
    """Hash of what training sees: the labelled eligible rows, the feedback and the config."""
    rows = training_rows(labelled, cfg)
    digest = hashlib.sha256()
    digest.update(repr(cfg).encode())
    last = str(rows["month"].max()) if len(rows) else "-"
    digest.update(f"{last}|{len(rows)}|{int(np.nansum(rows['label']))}".encode())
    digest.update(pd.util.hash_pandas_object(rows.drop(columns=["artist"]), index=False).to_numpy())
    digest.update(pd.util.hash_pandas_object(feedback, index=False).to_numpy())
    return digest.hexdigest()


def _metrics(bundle: ModelBundle) -> dict:
    """The chosen model's validation and test metrics (JSON-ready)."""
    chosen = bundle.metadata.get("metrics", {}).get(bundle.kind, {})
    return json.loads(json.dumps(chosen, default=str))


def _trained_at(bundle: ModelBundle) -> datetime | None:
    created = bundle.metadata.get("created_at")
    return datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None


def _prepare(
    conn: Connection, run_id: int, scored: Scored
) -> tuple[list[tuple], list[tuple], dict[str, int]]:
    """Candidate and reason rows with explicit ids (allocated under the write lock)."""
    cands = scored.candidates
    keys = cands["artist_key"].drop_duplicates().tolist()
    ids: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        result = conn.exec_driver_sql(
            f"SELECT key, id FROM artists WHERE key IN ({marks})", tuple(chunk)
        )
        ids.update((key, ident) for key, ident in result)
    next_id = int(conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM candidates").scalar()) + 1
    cand_ids = np.arange(next_id, next_id + len(cands), dtype="int64")
    cand_rows = list(
        zip(
            cand_ids.tolist(),
            [run_id] * len(cands),
            cands["artist_key"].map(ids).astype("int64").tolist(),
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
    counts = cands["window"].value_counts().to_dict()
    return cand_rows, reason_rows, {w: int(counts.get(w, 0)) for w in ("trailing", "month")}


def _run_fields(bundle: ModelBundle | None) -> dict[str, Any]:
    """How a run is described, in the table and in the report: model or fallback."""
    return {
        "status": "model" if bundle else "fallback",
        "model_name": bundle.kind if bundle else None,
        "threshold": float(bundle.threshold) if bundle else None,
    }


def _store(
    conn: Connection,
    scored: Scored,
    bundle: ModelBundle | None,
    message: str,
    created_at: datetime,
) -> tuple[int, dict[str, int]]:
    """Insert the run, its candidates and reasons, and prune old runs (caller's transaction)."""
    run_id = conn.execute(
        insert(ModelRun)
        .values(
            created_at=created_at,
            message=message,
            scored_month=scored.month,
            metrics_json=json.dumps(_metrics(bundle) if bundle else {}),
            trained_at=_trained_at(bundle) if bundle else None,
            **_run_fields(bundle),
        )
        .returning(ModelRun.id)
    ).scalar_one()
    cand_rows, reason_rows, counts = _prepare(conn, run_id, scored)
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
    conn.exec_driver_sql(
        "DELETE FROM model_runs WHERE id NOT IN "
        f"(SELECT id FROM model_runs ORDER BY id DESC LIMIT {KEEP_RUNS})"
    )
    return int(run_id), counts


def _model(
    labelled: pd.DataFrame,
    feedback: pd.DataFrame,
    cfg: PipelineConfig,
    model_dir: Path,
    force_train: bool,
) -> tuple[ModelBundle | None, bool, str]:
    """The saved model when its fingerprint matches, else a fresh one; (bundle, trained, msg)."""
    fp = fingerprint(labelled, feedback, cfg)
    try:
        saved = load_bundle(model_dir)
    except UserError as exc:  # not our artifact or damaged: never loaded, replaced below
        log.warning("ignoring the saved model: %s", exc)
        saved = None
    if saved is not None and not force_train and saved.metadata.get("fingerprint") == fp:
        return saved, False, ""
    try:
        bundle = train_model(labelled, cfg)
    except NotEnoughHistory as exc:
        return None, False, str(exc)
    bundle.metadata["fingerprint"] = fp
    save_bundle(bundle, model_dir)
    return bundle, True, ""


def rebuild(
    db_url: str,
    model_dir: str | Path,
    cfg: PipelineConfig | None = None,
    now: datetime | float | None = None,
    force_train: bool = False,
) -> RebuildReport:
    """Features, labels, training when the data or feedback changed, scoring, one stored run."""
    cfg = cfg or PipelineConfig()
    now_ts = as_unix(time.time() if now is None else now)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        timings[stage] = time.perf_counter() - clock
        clock = time.perf_counter()

    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as conn:
            scrobbles = load_scrobbles(conn)
            feedback = load_feedback(conn)
        lap("load")
        if scrobbles.empty:
            bundle, trained, message = None, False, "not enough history yet: 0 months, 0 breakouts"
            scored = empty_scored(now_ts, cfg)
        else:
            table = monthly_table(scrobbles, cfg, now_ts)
            lap("features")
            labelled = add_labels(table, cfg, feedback)
            lap("labels")
            bundle, trained, message = _model(labelled, feedback, cfg, Path(model_dir), force_train)
            lap("train")
            scored = score_artists(scrobbles, bundle, cfg, now_ts, monthly=labelled)
        lap("score")
        created = datetime.fromtimestamp(now_ts, UTC)
        with engine.begin() as conn:
            run_id, counts = _store(conn, scored, bundle, message, created)
        lap("store")
    finally:
        engine.dispose()
    return RebuildReport(
        run_id=run_id,
        message=message,
        scored_month=scored.month,
        trained=trained,
        scrobbles=len(scrobbles),
        candidates=counts,
        timings=timings,
        **_run_fields(bundle),
    )
