"""Breakout moments: an artist's first time as a core artist, announced once ever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import BreakoutMoment, Candidate
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
    listed: tuple[int, float] | None = None  # (place, odds) on the list just before, if on it

    @classmethod
    def of(cls, b: BreakoutView, listed: tuple[int, float] | None = None) -> Moment:
        """From the rebuild's breakout record and the list shown before it."""
        p = b.prediction
        flagged = p.made_at if p is not None and p.above_threshold else None
        probability = p.probability if p else None
        return cls(b.artist_id, b.artist, b.month, b.plays, probability, flagged, listed)


async def _place_before(session: AsyncSession, b: BreakoutView) -> tuple[int, float] | None:
    """(place, probability) of the artist on the one list of the last run before the one that
    saw it core (that run no longer lists it: core artists are news, not candidates)."""
    stmt = select(Candidate.rank, Candidate.probability).where(
        Candidate.artist_id == b.artist_id, Candidate.rank > 0
    )
    if b.run_id is not None:
        stmt = stmt.where(Candidate.run_id < b.run_id)
    row = (await session.execute(stmt.order_by(Candidate.run_id.desc()).limit(1))).first()
    return None if row is None else (int(row[0]), float(row[1]))


async def claim_moments(rt: Runtime) -> list[Moment]:
    """Breakouts the rebuilds saw lately and nobody announced, each claimed once.

    The claim is committed before anything is sent (at most once, across restarts). With
    moments turned off the artists are recorded as muted, so turning them on later does not
    bring a flood of old news.
    """
    async with rt.db.sessions() as session, session.begin():
        chat = await load_chat_settings(session, rt.settings)
        found = [
            Moment.of(b, await _place_before(session, b))
            for b in await new_breakouts(session, rt.now() - LOOKBACK)
        ]
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
