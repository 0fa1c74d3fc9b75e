"""Breakout moments: an artist's first time as a core artist, announced once ever."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import BreakoutMoment
from bot.services.chat_settings import load_chat_settings
from bot.services.record_shim import NewBreakout, new_breakouts

__all__ = ["NewBreakout", "claim_moments", "mark_moment", "recent_moments"]
from bot.services.runtime import Runtime
from bot.timeutil import month_of, month_start

SENT, MUTED, CLAIMED, UNDELIVERED = "sent", "muted", "claimed", "undelivered"


async def claim_moments(rt: Runtime) -> list[NewBreakout]:
    """New first-time breakouts of this month, each claimed once; [] when turned off.

    The claim is committed before anything is sent (at most once, across restarts). With
    moments turned off the artists are recorded as muted, so turning them on later does not
    bring a flood of old news.
    """
    since = month_start(month_of(rt.local_now()), rt.settings.tz)
    async with rt.db.sessions() as session, session.begin():
        chat = await load_chat_settings(session, rt.settings)
        found = await new_breakouts(session, since)
        claimed = await _claim(session, found, CLAIMED if chat.moments else MUTED, rt.now())
    return claimed if chat.moments else []


async def _claim(
    session: AsyncSession, found: list[NewBreakout], outcome: str, now: datetime
) -> list[NewBreakout]:
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
