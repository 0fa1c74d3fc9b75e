"""Breakout moments: an artist's first time as a core artist, announced once ever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import BreakoutMoment
from bot.services.chat_settings import load_chat_settings
from bot.services.record import BreakoutView, new_breakouts
from bot.services.runtime import Runtime

SENT, MUTED, CLAIMED, UNDELIVERED = "sent", "muted", "claimed", "undelivered"
LOOKBACK = timedelta(days=35)  # breakouts detected longer ago are old news


@dataclass(frozen=True)
class Moment:
    """One breakout to announce: who, plays, and what we had said before."""

    artist_id: int
    artist: str
    month: str
    plays: int
    probability: float | None  # our earlier score, None when we had none
    flagged_at: datetime | None  # when we flagged it, None when we did not

    @classmethod
    def of(cls, b: BreakoutView) -> Moment:
        """From the rebuild's breakout record."""
        p = b.prediction
        flagged = p.made_at if p is not None and p.above_threshold else None
        return cls(b.artist_id, b.artist, b.month, b.plays, p.probability if p else None, flagged)


async def claim_moments(rt: Runtime) -> list[Moment]:
    """Breakouts the rebuilds saw lately and nobody announced, each claimed once.

    The claim is committed before anything is sent (at most once, across restarts). With
    moments turned off the artists are recorded as muted, so turning them on later does not
    bring a flood of old news.
    """
    async with rt.db.sessions() as session, session.begin():
        chat = await load_chat_settings(session, rt.settings)
        found = [Moment.of(b) for b in await new_breakouts(session, rt.now() - LOOKBACK)]
        claimed = await _claim(session, found, CLAIMED if chat.moments else MUTED, rt.now())
    return claimed if chat.moments else []  # []: turned off


async def _claim(
    session: AsyncSession, found: list[Moment], outcome: str, now: datetime
) -> list[Moment]:
    if not found:
        return []
    known = set(
        (
            await session.execute(
                select(BreakoutMoment.artist_id).where(
                    BreakoutMoment.artist_id.in_([b.artist_id for b in found])
                )
            )
        ).scalars()
    )
    fresh = [b for b in found if b.artist_id not in known]
    for b in fresh:
        await session.execute(
            insert(BreakoutMoment)
            .values(
                artist_id=b.artist_id,
                month=b.month,
                detected_at=now,
                outcome=outcome,
                probability=b.probability,
                flagged_at=b.flagged_at,
            )
            .on_conflict_do_nothing()
        )
    return fresh


async def mark_moment(session: AsyncSession, artist_id: int, outcome: str) -> None:
    """How the announcement of one moment ended."""
    await session.execute(
        update(BreakoutMoment).where(BreakoutMoment.artist_id == artist_id).values(outcome=outcome)
    )


async def recent_moments(session: AsyncSession, since: datetime) -> list[tuple[int, str]]:
    """(artist_id, month) of moments recorded at or after `since`, newest first."""
    rows = await session.execute(
        select(BreakoutMoment.artist_id, BreakoutMoment.month)
        .where(BreakoutMoment.detected_at >= since)
        .order_by(BreakoutMoment.detected_at.desc())
    )
    return [(int(a), str(m)) for a, m in rows]
