"""Reads behind an artist's card and the empty candidate list (owner's time zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import queries
from pipeline.config import PipelineConfig
from pipeline.periods import month_of, month_start

CHART_DAYS = 60


@dataclass(frozen=True)
class Watched:
    """Why a list is empty: recent discoveries below the bar, and recent breakouts."""

    discoveries: list[tuple[str, int]]  # (name, plays in the last 30 days)
    broke_out: list[str]
    min_plays: int
    idle_since: date | None = None  # the last scrobble, when too old for anything to score


@dataclass(frozen=True)
class CoreProgress:
    """Where an artist stands against the core bar of the owner's month."""

    month: str
    plays: int
    needed: int  # more plays needed this month (0: already core this month)
    bar: int  # plays that make an artist core this month


async def daily_plays(
    session: AsyncSession, artist_id: int, now: datetime, tz: tzinfo, days: int = CHART_DAYS
) -> list[tuple[datetime, int]]:
    """(local day, plays) for each of the last `days` days, oldest first, zeros included."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    lo = int(datetime(first.year, first.month, first.day, tzinfo=tz).timestamp())
    rows = await session.execute(
        text("SELECT ts FROM scrobbles WHERE artist_id = :a AND ts >= :lo"),
        {"a": artist_id, "lo": lo},
    )
    counts: dict = {}
    for (ts,) in rows:
        day = datetime.fromtimestamp(ts, tz).date()
        counts[day] = counts.get(day, 0) + 1
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        out.append((datetime(day.year, day.month, day.day, tzinfo=tz), counts.get(day, 0)))
    return out


async def core_progress(
    session: AsyncSession, artist_id: int, now: datetime, tz: tzinfo
) -> CoreProgress | None:
    """Plays this (owner's) month so far against the core bar the latest rebuild computed.

    None when the rebuild has not looked at this month yet (the bar would be last month's).
    """
    status = await queries.artist_status(session, artist_id)
    month = month_of(int(now.timestamp()), tz)
    if status is None or status.month != month:
        return None
    start = month_start(month, tz)
    plays = (
        await session.execute(
            text("SELECT COUNT(*) FROM scrobbles WHERE artist_id = :a AND ts >= :lo"),
            {"a": artist_id, "lo": start},
        )
    ).scalar()
    plays = max(int(plays or 0), status.plays_month)
    return CoreProgress(month, plays, max(status.plays_needed - plays, 0), status.plays_needed)


async def month_total(session: AsyncSession, now: datetime, tz: tzinfo) -> tuple[str, int]:
    """(month, scrobbles so far) of the owner's current month."""
    month = month_of(int(now.timestamp()), tz)
    start = month_start(month, tz)
    total = (
        await session.execute(text("SELECT COUNT(*) FROM scrobbles WHERE ts >= :lo"), {"lo": start})
    ).scalar()
    return month, int(total or 0)


async def month_bar(session: AsyncSession, month: str) -> int | None:
    """Plays that make an artist core in `month`, as the latest rebuild set it (None: not yet)."""
    return (
        await session.execute(
            text("SELECT plays_needed FROM artist_status WHERE month = :m LIMIT 1"), {"m": month}
        )
    ).scalar()


async def watched(
    session: AsyncSession,
    now: datetime,
    broke_out: list[str],
    cfg: PipelineConfig | None = None,
    tz: tzinfo = UTC,
) -> Watched:
    """Artists first played in the last `watch_days` days still below the candidate bar."""
    cfg = cfg or PipelineConfig()
    since = int((now - timedelta(days=cfg.watch_days)).timestamp())
    recent = int((now - timedelta(days=cfg.trailing_days)).timestamp())
    rows = await session.execute(
        text(
            "SELECT a.name, SUM(s.ts >= :recent) AS n FROM scrobbles s "
            "JOIN artists a ON a.id = s.artist_id GROUP BY s.artist_id "
            "HAVING MIN(s.ts) >= :since AND n < :bar ORDER BY MIN(s.ts) DESC LIMIT 5"
        ),
        {"since": since, "recent": recent, "bar": cfg.eligible_min_plays},
    )
    idle = await queries.idle_since(session, now, tz, cfg)
    return Watched(
        [(str(n), int(p)) for n, p in rows], broke_out, cfg.eligible_min_plays, idle_since=idle
    )
