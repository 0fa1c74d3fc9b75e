"""The owner's Confirm/Dismiss verdicts, stored as labels for the next training."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Artist, Candidate, Feedback
from bot.db.session import ANSWER_DEADLINE_SECONDS, describe_database_error, write_with_retry
from bot.timeutil import utc_now
from pipeline.errors import UserError

log = logging.getLogger(__name__)
T = TypeVar("T")
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
        when = now or utc_now()
        stmt = insert(Feedback).values(
            artist_id=artist_id, month=month, verdict=verdict, created_at=when, updated_at=when
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["artist_id", "month"],
            set_={"verdict": verdict, "updated_at": when},
        )
        await session.execute(stmt)
    return FeedbackResult(artist_id, name, month, verdict, changed=previous != verdict)


@dataclass(frozen=True)
class VerdictRow:
    """One stored verdict, for /verdicts."""

    feedback_id: int
    artist_id: int
    artist: str
    month: str
    verdict: int
    at: datetime


async def list_verdicts(session: AsyncSession, limit: int = 10) -> list[VerdictRow]:
    """The newest verdicts first."""
    rows = await session.execute(
        select(Feedback, Artist.name)
        .join(Artist, Artist.id == Feedback.artist_id)
        .order_by(Feedback.updated_at.desc(), Feedback.id.desc())
        .limit(limit)
    )
    return [
        VerdictRow(f.id, f.artist_id, name, f.month, f.verdict, f.updated_at) for f, name in rows
    ]


async def count_verdicts(session: AsyncSession) -> int:
    """How many verdicts are stored."""
    return int((await session.execute(select(func.count(Feedback.id)))).scalar() or 0)


async def undo_feedback(session: AsyncSession, feedback_id: int) -> VerdictRow | None:
    """Delete one verdict (the rule label applies again); the removed row, None if gone."""
    row = (
        await session.execute(
            select(Feedback, Artist.name)
            .join(Artist, Artist.id == Feedback.artist_id)
            .where(Feedback.id == feedback_id)
        )
    ).one_or_none()
    if row is None:
        return None
    f, name = row
    removed = VerdictRow(f.id, f.artist_id, name, f.month, f.verdict, f.updated_at)
    await session.execute(delete(Feedback).where(Feedback.id == feedback_id))
    return removed


async def latest_feedback_id(session: AsyncSession, artist_id: int) -> int | None:
    """Id of the artist's newest verdict, None when not judged."""
    return (
        await session.execute(
            select(Feedback.id)
            .where(Feedback.artist_id == artist_id)
            .order_by(Feedback.updated_at.desc(), Feedback.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


class NotStored(Exception):
    """A write the owner waited for failed; `problem` says why in one line."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


async def _answered_write(
    sessions: async_sessionmaker, work: Callable[[AsyncSession], Awaitable[T]], what: str
) -> T:
    """Run a write someone waits for, retried while SQLite is busy; NotStored when it fails."""
    try:
        return await write_with_retry(sessions, work, deadline=ANSWER_DEADLINE_SECONDS)
    except SQLAlchemyError as exc:
        log.warning("%s not stored: %s", what, exc)
        raise NotStored(describe_database_error(exc)) from exc


async def store_verdict(
    sessions: async_sessionmaker, candidate_id: int, verdict: int, now: datetime | None = None
) -> FeedbackResult:
    """record_feedback in its own retried transaction (a button press)."""
    return await _answered_write(
        sessions,
        lambda session: record_feedback(session, candidate_id, verdict, now),
        f"verdict on candidate {candidate_id}",
    )


async def remove_verdict(sessions: async_sessionmaker, feedback_id: int) -> VerdictRow | None:
    """undo_feedback in its own retried transaction (a button press)."""
    return await _answered_write(
        sessions, lambda session: undo_feedback(session, feedback_id), f"undo of {feedback_id}"
    )
