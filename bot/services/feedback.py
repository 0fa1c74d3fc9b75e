"""The owner's Confirm/Dismiss verdicts, stored as labels for the next training."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Artist, Candidate, Feedback, utcnow
from pipeline.errors import UserError

CONFIRM, DISMISS = 1, 0


class UnknownCandidate(UserError):
    """A button refers to a candidate id that is not in the database."""


@dataclass(frozen=True)
class FeedbackResult:
    """What a verdict was stored for."""

    artist_id: int
    artist: str
    month: str
    verdict: int
    changed: bool


async def record_feedback(
    session: AsyncSession, candidate_id: int, verdict: int, now: datetime | None = None
) -> FeedbackResult:
    """Store the verdict on a candidate's (artist, month); repeats are no-ops, changes update."""
    if verdict not in (CONFIRM, DISMISS):
        raise ValueError(f"verdict must be {CONFIRM} or {DISMISS}, not {verdict!r}")
    row = (
        await session.execute(
            select(Candidate.artist_id, Candidate.month, Artist.name)
            .join(Artist, Artist.id == Candidate.artist_id)
            .where(Candidate.id == candidate_id)
        )
    ).one_or_none()
    if row is None:
        raise UnknownCandidate(f"no candidate with id {candidate_id}")
    artist_id, month, name = row
    previous = (
        await session.execute(
            select(Feedback.verdict).where(Feedback.artist_id == artist_id, Feedback.month == month)
        )
    ).scalar_one_or_none()
    if previous != verdict:
        when = now or utcnow()
        stmt = insert(Feedback).values(
            artist_id=artist_id, month=month, verdict=verdict, created_at=when, updated_at=when
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["artist_id", "month"],
            set_={"verdict": verdict, "updated_at": when},
        )
        await session.execute(stmt)
    return FeedbackResult(artist_id, name, month, verdict, changed=previous != verdict)
