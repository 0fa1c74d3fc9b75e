"""Track record and breakout moments, read from the stored predictions (milliseconds).

Reads never run a backtest: the backtest track record is computed by the rebuild (nightly,
first backfill), by `build_backtest_record` (in a worker thread, at a start or after a sync
that finds it missing, or once by `breakout record`) and read here from `track_record_cache`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Artist, Breakout, Prediction, Scrobble, TrackRecordCache
from bot.timeutil import as_utc
from pipeline.config import PipelineConfig
from pipeline.lazy import DeferredModule
from pipeline.periods import month_code
from pipeline.record import TrackRecord, empty_record, track_record
from pipeline.rules import core_resolves

if TYPE_CHECKING:
    import pandas as pd
else:
    pd = DeferredModule("pandas")


async def live_track_record(session: AsyncSession, recent: int = 10) -> TrackRecord:
    """The record of the stored month-window predictions (open ones included)."""
    rows = (
        await session.execute(
            select(
                Prediction.artist_name,
                Prediction.month,
                Prediction.probability,
                Prediction.above_threshold,
                Prediction.outcome,
            ).where(Prediction.window == "month")
        )
    ).all()
    frame = pd.DataFrame(
        rows, columns=["artist", "month", "probability", "above_threshold", "outcome"]
    )
    return track_record(frame, "live", recent)


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


async def load_track_record(session: AsyncSession, recent: int = 10) -> TrackRecord:
    """Live once a stored prediction has resolved; before that the cached backtest record;
    `source` "none" when neither exists yet."""
    live = await live_track_record(session, recent)
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
