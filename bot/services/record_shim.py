"""Stand-in for engineer R's track record / breakout / status contract until it is merged.

Shapes follow the agreed contract (bot/services/record.py, bot/services/queries.py); the
bot imports them from here only, so the swap is one import line per user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.config import PipelineConfig


@dataclass(frozen=True)
class Band:
    """Calibration of one probability band: how often it came true."""

    low: float
    high: float
    predicted: float
    observed: float
    count: int


@dataclass(frozen=True)
class ResolvedPrediction:
    """A flagged prediction and what became of it."""

    artist_id: int
    artist: str
    month: str
    probability: float
    outcome: str  # "core" | "not" | "open"
    made_at: datetime | None = None


@dataclass(frozen=True)
class TrackRecord:
    """The listener's own history of flagged artists and their outcomes."""

    source: str = "backtest"  # "live" | "backtest"
    flagged: int = 0
    became_core: int = 0
    didnt: int = 0
    open: int = 0
    hit_rate: float | None = None
    base_rate: float | None = None
    bands: list[Band] = field(default_factory=list)
    recent: list[ResolvedPrediction] = field(default_factory=list)


@dataclass(frozen=True)
class NewBreakout:
    """An artist that became core for the first time, with our earlier prediction if any."""

    artist_id: int
    artist: str
    month: str
    plays: int
    probability: float | None = None
    flagged_at: datetime | None = None


async def load_track_record(session: AsyncSession) -> TrackRecord:
    """Until R's predictions table lands: nothing flagged yet."""
    return TrackRecord()


async def new_breakouts(
    session: AsyncSession, since: datetime, cfg: PipelineConfig | None = None
) -> list[NewBreakout]:
    """Artists whose first core month (plays or share of the month) is at or after `since`."""
    cfg = cfg or PipelineConfig()
    rows = (
        await session.execute(
            text(
                "WITH am AS (SELECT artist_id, strftime('%Y-%m', ts, 'unixepoch') AS m, "
                "COUNT(*) AS n FROM scrobbles GROUP BY artist_id, m), "
                "tot AS (SELECT m, SUM(n) AS t FROM am GROUP BY m), "
                "core AS (SELECT am.artist_id, am.m, am.n FROM am JOIN tot USING (m) "
                "WHERE am.n >= :plays OR am.n >= :share * tot.t), "
                "firsts AS (SELECT artist_id, MIN(m) AS m FROM core GROUP BY artist_id) "
                "SELECT f.artist_id, a.name, f.m, c.n FROM firsts f "
                "JOIN core c ON c.artist_id = f.artist_id AND c.m = f.m "
                "JOIN artists a ON a.id = f.artist_id WHERE f.m >= :since ORDER BY f.m, a.name"
            ),
            {
                "plays": cfg.core_plays,
                "share": cfg.core_share,
                "since": since.astimezone(UTC).strftime("%Y-%m"),
            },
        )
    ).all()
    return [NewBreakout(int(a), str(n), str(m), int(p)) for a, n, m, p in rows]


@dataclass(frozen=True)
class ArtistStatus:
    """An artist against this month's core bar (R: per-artist status rows)."""

    month: str
    plays: int
    needed: int
    bar: int


async def artist_status(
    session: AsyncSession, artist_id: int, start_ts: int, end_ts: int, month: str
) -> ArtistStatus:
    """Plays this month and how many more would make the artist core this month."""
    cfg = PipelineConfig()
    plays, total = (
        await session.execute(
            text(
                "SELECT SUM(artist_id = :a), COUNT(*) FROM scrobbles WHERE ts >= :lo AND ts < :hi"
            ),
            {"a": artist_id, "lo": start_ts, "hi": end_ts},
        )
    ).one()
    plays, total = int(plays or 0), int(total or 0)
    # Each extra play also raises the month's total; solve plays + k >= share * (total + k).
    by_share = next(
        k
        for k in range(cfg.core_plays + 1)
        if plays + k >= cfg.core_share * (total + k) or k == cfg.core_plays
    )
    needed = max(0, min(cfg.core_plays - plays, by_share))
    return ArtistStatus(month, plays, needed, plays + needed if needed else plays)
