"""The monthly push: which month, whether it is due, what it contains (no Telegram here).

It reads and never rebuilds: its picks are the top of the one list `/candidates` shows (the
artists that stand out), so both agree on who is most likely. A month not scored yet (the
nightly run did not get to it) is rescored with the stored model, which takes about a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import jobruns
from bot.db.models import ArtistStatus, Prediction
from bot.services import queries
from bot.services.chat_settings import load_chat_settings
from bot.services.orchestration import MONTHLY_PUSH, run_rescore
from bot.services.queries import CandidateView, RunView
from bot.services.runtime import Runtime
from bot.timeutil import clock_time, push_month
from pipeline.config import PipelineConfig
from pipeline.periods import add_months, month_code
from pipeline.record import CORE, Resolved
from pipeline.rules import core_resolves

READY, ALREADY, NOT_SCORED, OFF = "ready", "already pushed", "not scored yet", "turned off"


@dataclass
class PushPlan:
    """What the push of `month` would send, or why it does not."""

    month: str
    state: str
    picks: list[CandidateView] = field(default_factory=list)
    run: RunView | None = None
    previous: list[Resolved] = field(default_factory=list)


def due_month(rt: Runtime) -> str:
    """The owner's month whose push slot (1st of the next month at the push time) came last."""
    return push_month(rt.local_now(), clock_time(rt.settings.BREAKOUT_MONTHLY_PUSH_TIME))


async def _scored(rt: Runtime, month: str) -> bool:
    async with rt.db.sessions() as session:
        run = await queries.latest_run(session)
    return run is not None and (run.scored_month or "") >= month


async def plan_push(rt: Runtime, month: str | None = None) -> PushPlan:
    """The push of the month due now; a month not scored yet is rescored right away."""
    month = month or due_month(rt)
    async with rt.db.sessions() as session:
        existing = await jobruns.get(session, MONTHLY_PUSH, month)
        chat = await load_chat_settings(session, rt.settings)
    if existing is not None and existing.outcome != jobruns.UNDELIVERED:
        return PushPlan(month, ALREADY)
    if not chat.push:
        return PushPlan(month, OFF)
    if not await _scored(rt, month):
        # The nightly run normally scored it hours ago; never make the owner wait a day.
        await run_rescore(rt)
        if not await _scored(rt, month):
            return PushPlan(month, NOT_SCORED)
    async with rt.db.sessions() as session:
        run = await queries.latest_run(session)
        picks = (
            [] if run is None else await queries.standout_candidates(session, run, chat.push_size)
        )
        previous = await previous_picks(session, add_months(month, -1))
    return PushPlan(month, READY, picks, run, previous)


async def previous_picks(session: AsyncSession, month: str) -> list[Resolved]:
    """The artists flagged for `month` and where they stand: core since, didn't, or open.

    An artist core in a later month has already come true, before its horizon has passed.
    """
    rows = await session.execute(
        select(Prediction, ArtistStatus.first_core_month)
        .outerjoin(ArtistStatus, ArtistStatus.artist_id == Prediction.artist_id)
        .where(
            Prediction.window == "month",
            Prediction.month == month,
            Prediction.above_threshold.is_(True),
        )
        .order_by(Prediction.probability.desc())
    )
    out = []
    cfg, code = PipelineConfig(), month_code(month)
    for p, first_core in rows:
        came_true = first_core and core_resolves(month_code(first_core) - code, "month", cfg)
        outcome = p.outcome or (CORE if came_true else "open")
        out.append(Resolved(p.artist_name, p.month, float(p.probability), outcome))
    return out
