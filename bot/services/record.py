"""Track record and breakout moments, read from the stored predictions (milliseconds).

Reads compute nothing: the live track record is computed by every rebuild and rescore, in
the transaction that writes the predictions (`store_live_record`); the backtest one by the
rebuild (nightly, first backfill), by `build_backtest_record` (in a worker thread, at a start
or after a sync that finds it missing, or once by `breakout record`). Both are read here from
`track_record_cache`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Artist, Breakout, Prediction, Scrobble, TrackRecordCache
from bot.timeutil import as_utc
from pipeline.config import PipelineConfig
from pipeline.lazy import DeferredModule
from pipeline.periods import month_code
from pipeline.record import RECENT, TrackRecord, empty_record, track_record
from pipeline.rules import core_resolves

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = DeferredModule("pandas")


LIVE_ROWS = (
    "SELECT artist_name, month, probability, above_threshold, outcome "
    "FROM predictions WHERE window = 'month' ORDER BY id"
)
# Predictions are only added or resolved, never rewritten or deleted: the highest id and the
# number resolved change with every write (both read from indexes, no table scan).
LIVE_KEY = (
    "SELECT (SELECT MAX(id) FROM predictions), "
    "(SELECT COUNT(*) FROM predictions WHERE outcome IS NOT NULL)"
)
LIVE_COLUMNS = ["artist", "month", "probability", "above_threshold", "outcome"]


def _live_key(row: tuple) -> str | None:
    """What the live record depends on, None when nothing was ever predicted."""
    last_id, resolved = row
    return None if last_id is None else f"{last_id}|{resolved}"


def _live_record(rows: list) -> TrackRecord:
    return track_record(pd.DataFrame(rows, columns=LIVE_COLUMNS), "live", RECENT)


def store_live_record(conn: Connection, at: str) -> None:
    """Compute the live track record of the stored predictions and keep it for the readers
    (the rebuild's store step, in the transaction that wrote the predictions)."""
    key = _live_key(conn.exec_driver_sql(LIVE_KEY).one())
    stored = "SELECT fingerprint FROM track_record_cache WHERE kind = 'live'"
    if key is None or key == conn.exec_driver_sql(stored).scalar():
        return  # nothing predicted, or nothing added or resolved since it was stored
    record = _live_record(conn.exec_driver_sql(LIVE_ROWS).all())
    conn.exec_driver_sql(
        "INSERT INTO track_record_cache (kind, fingerprint, created_at, payload) "
        "VALUES ('live', ?, ?, ?) ON CONFLICT (kind) DO UPDATE SET "
        "fingerprint = excluded.fingerprint, created_at = excluded.created_at, "
        "payload = excluded.payload",
        (key, at, json.dumps(record.to_json())),
    )


async def live_track_record(session: AsyncSession) -> TrackRecord:
    """The record of the stored month-window predictions (open ones included), as the last
    rebuild stored it. Computed here only when that is missing or stale (a database last
    rebuilt by a version that did not store it, or a damaged payload)."""
    key = _live_key((await session.execute(text(LIVE_KEY))).one())
    if key is None:
        return empty_record("live")
    stored = (
        await session.execute(
            select(TrackRecordCache.fingerprint, TrackRecordCache.payload).where(
                TrackRecordCache.kind == "live"
            )
        )
    ).first()
    if stored is not None and stored.fingerprint == key:
        try:
            return TrackRecord.from_json(json.loads(stored.payload))
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # a damaged payload (a restored file, a disk fault): what it said is computable
    return _live_record((await session.execute(text(LIVE_ROWS))).all())


async def cached_backtest_record(session: AsyncSession) -> TrackRecord | None:
    """The backtest track record the last rebuild stored, None when there is none."""
    payload = (
        await session.execute(
            select(TrackRecordCache.payload).where(TrackRecordCache.kind == "backtest")
        )
    ).scalar_one_or_none()
    return None if payload is None else TrackRecord.from_json(json.loads(payload))


async def backtest_missing(session: AsyncSession) -> bool:
    """True when /record would have nothing to show but the history could back-test one."""
    resolved = select(func.count()).where(
        Prediction.window == "month", Prediction.outcome.is_not(None)
    )
    if (await session.execute(resolved)).scalar():
        return False
    cached = select(func.count()).where(TrackRecordCache.kind == "backtest")
    if (await session.execute(cached)).scalar():
        return False
    return (await session.execute(select(Scrobble.id).limit(1))).first() is not None


def build_backtest_record(url: str, now: datetime) -> bool:
    """Compute and store the backtest track record (blocking: seconds to minutes; heavy
    imports only on this path). False when live results exist or it is up to date."""
    from bot.db.scrobbles import load_scrobbles
    from bot.db.session import make_sync_engine
    from bot.services.rebuild import refresh_backtest_record

    engine = make_sync_engine(url)
    try:
        with engine.begin() as conn:
            return refresh_backtest_record(
                conn, load_scrobbles(conn), int(now.timestamp()), PipelineConfig()
            )
    finally:
        engine.dispose()


async def load_track_record(session: AsyncSession) -> TrackRecord:
    """Live once a stored prediction has resolved; before that the cached backtest record;
    `source` "none" when neither exists yet."""
    live = await live_track_record(session)
    if live.scored:
        return live
    cached = await cached_backtest_record(session)
    if cached is not None:
        return cached
    return live if live.flagged else empty_record()


@dataclass(frozen=True)
class PredictionView:
    """What we had said about an artist before it broke out."""

    window: str  # "month" | "trailing"
    month: str
    probability: float
    above_threshold: bool
    made_at: datetime


@dataclass(frozen=True)
class BreakoutView:
    """An artist seen core for the first time, with our earlier prediction (or None)."""

    artist_id: int
    artist: str
    month: str  # its first core month
    plays: int  # its plays in that month when seen
    detected_at: datetime
    run_id: int | None
    prediction: PredictionView | None  # the first flag, else the highest unflagged score


def _best(rows: list[Prediction]) -> PredictionView | None:
    """The earliest flagged prediction, else the highest-probability one."""
    if not rows:
        return None
    flagged = sorted((p for p in rows if p.above_threshold), key=lambda p: as_utc(p.made_at))
    pick = flagged[0] if flagged else max(rows, key=lambda p: p.probability)
    return PredictionView(
        pick.window,
        pick.month,
        float(pick.probability),
        bool(pick.above_threshold),
        as_utc(pick.made_at),
    )


async def new_breakouts(
    session: AsyncSession,
    since: datetime | None = None,
    run_id: int | None = None,
    cfg: PipelineConfig | None = None,
) -> list[BreakoutView]:
    """Artists first seen core after `since` (or by run `run_id`; all when both are None),
    oldest first, each with the prediction made within the label horizon before it."""
    cfg = cfg or PipelineConfig()
    stmt = (
        select(Breakout, Artist.name)
        .join(Artist, Artist.id == Breakout.artist_id)
        .where(Breakout.historical.is_(False))
        .order_by(Breakout.detected_at, Breakout.artist_id)
    )
    if since is not None:
        stmt = stmt.where(Breakout.detected_at > since.astimezone(UTC).replace(tzinfo=None))
    if run_id is not None:
        stmt = stmt.where(Breakout.run_id == run_id)
    found = (await session.execute(stmt)).all()
    if not found:
        return []

    preds = (
        await session.execute(
            select(Prediction).where(Prediction.artist_id.in_([b.artist_id for b, _ in found]))
        )
    ).scalars()
    by_artist: dict[int, list[Prediction]] = {}
    for p in preds:
        by_artist.setdefault(p.artist_id, []).append(p)
    out = []
    for b, name in found:
        core = month_code(b.month)
        before = [
            p
            for p in by_artist.get(b.artist_id, [])
            if core_resolves(core - month_code(p.month), p.window, cfg)
        ]
        out.append(
            BreakoutView(
                b.artist_id, name, b.month, b.plays, as_utc(b.detected_at), b.run_id, _best(before)
            )
        )
    return out
