"""Read-only queries behind `/candidates`, `/why`, the monthly push and the CLI (milliseconds)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Artist, ArtistStatus, Candidate, CandidateReason, Feedback, ModelRun
from bot.services.names import fold, name_index
from bot.timeutil import as_utc, utc_now
from bot.timeutil import month_name as month_words
from pipeline.config import PipelineConfig
from pipeline.normalize import artist_key
from pipeline.periods import DAY, add_months, month_start, plays_per_month
from pipeline.periods import month_of as local_month

# Odds this many times the listener's base rate (and above the alert threshold) stand out.
STANDOUT = 1.5


@dataclass(frozen=True)
class RunView:
    """One stored rebuild."""

    id: int
    created_at: datetime
    status: str  # "model" | "fallback"
    message: str
    model_name: str | None
    threshold: float | None
    scored_month: str | None
    metrics_json: str
    trained_at: datetime | None
    timezone: str = "UTC"  # whose calendar months the run scored

    @property
    def metrics(self) -> dict:
        """The chosen model's validation/test metrics."""
        try:
            value = json.loads(self.metrics_json or "{}")
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def is_fallback(self) -> bool:
        """True when no model could be trained (not enough history)."""
        return self.status == "fallback"

    @property
    def base_rate(self) -> float | None:
        """How often any new artist of the listener became core (None: not known)."""
        value = self.metrics.get("base_rate")
        return float(value) if isinstance(value, int | float) and value > 0 else None

    def stands_out(self, candidate: CandidateView) -> bool:
        """Flagged, with odds clearly above the base rate (see STANDOUT): the push's picks and
        the list's ★. A flag barely above the base rate is not news."""
        if self.is_fallback or not candidate.above_threshold:
            return False
        base = self.base_rate
        return base is None or candidate.probability >= STANDOUT * base


@dataclass(frozen=True)
class CandidateView:
    """One scored artist of a run, with its plain-language reasons."""

    candidate_id: int
    artist_id: int
    artist: str
    month: str
    window: str  # "trailing" | "month"
    probability: float
    rank: int
    above_threshold: bool
    first_seen: datetime
    plays: int
    reasons: list[str] = field(default_factory=list)  # what raises the score, strongest first
    concerns: list[str] = field(default_factory=list)  # what holds it back, strongest first


@dataclass(frozen=True)
class ArtistMatch:
    """Result of a name lookup: the artist (id, name) or None, and close names."""

    artist: tuple[int, str] | None
    suggestions: list[tuple[int, str]]
    exact: bool = False  # the same name up to case and accents


@dataclass(frozen=True)
class FeedbackView:
    """The owner's verdict on an artist."""

    verdict: int  # 1 confirm, 0 dismiss
    month: str
    at: datetime

    @property
    def word(self) -> str:
        """'confirmed' or 'dismissed'."""
        return "confirmed" if self.verdict else "dismissed"


@dataclass(frozen=True)
class StatusView:
    """Where an artist stood under the rules at the latest rebuild (see pipeline/status.py)."""

    month: str  # the month in progress
    plays_month: int  # plays so far this month
    month_total: int  # the listener's scrobbles so far this month
    plays_needed: int  # plays that make an artist core this month
    core_now: bool  # already core this month
    core_prev1: bool  # core last month
    core_prev2: bool  # core the month before
    plays_last_month: int
    plays_30d: int
    months_since_discovery: int
    first_seen: datetime
    last_played: datetime
    eligible_month: bool  # a candidate of the last complete month
    eligible_trailing: bool  # a candidate of the last 30 days
    first_core_month: str | None  # first (complete or current) month it was core
    last_core_month: str | None  # latest complete month it was core
    verdict: str  # pipeline.status.VERDICTS

    @property
    def eligible(self) -> bool:
        """A candidate in either window."""
        return self.eligible_month or self.eligible_trailing

    @property
    def plays_to_core(self) -> int:
        """Plays still needed this month to count as core (0 when it already does)."""
        return max(self.plays_needed - self.plays_month, 0)


@dataclass(frozen=True)
class Explanation:
    """Everything `/why` shows about one artist."""

    artist_id: int
    artist: str
    first_seen: datetime | None
    candidate: CandidateView | None
    why_not: str | None
    threshold: float | None
    monthly_plays: list[tuple[str, int]]
    feedback: FeedbackView | None
    run: RunView | None
    status: StatusView | None = None


def _run_view(run: ModelRun) -> RunView:
    return RunView(
        id=run.id,
        created_at=as_utc(run.created_at),
        status=run.status,
        message=run.message or "",
        model_name=run.model_name,
        threshold=run.threshold,
        scored_month=run.scored_month,
        metrics_json=run.metrics_json or "{}",
        trained_at=as_utc(run.trained_at),
        timezone=run.timezone or "UTC",
    )


async def latest_run(session: AsyncSession) -> RunView | None:
    """The newest stored rebuild, None before the first one."""
    run = (
        await session.execute(select(ModelRun).order_by(ModelRun.id.desc()).limit(1))
    ).scalar_one_or_none()
    return None if run is None else _run_view(run)


async def _reasons(session: AsyncSession, ids: list[int]) -> dict[int, tuple[list[str], list[str]]]:
    """Per candidate: (sentences that raise the score, sentences that hold it back)."""
    out: dict[int, tuple[list[str], list[str]]] = {i: ([], []) for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(CandidateReason.candidate_id, CandidateReason.sentence, CandidateReason.contribution)
        .where(CandidateReason.candidate_id.in_(ids))
        .order_by(CandidateReason.candidate_id, CandidateReason.position)
    )
    for cid, sentence, contribution in rows:
        out[cid][0 if contribution > 0 else 1].append(sentence)
    return out


async def _views(session: AsyncSession, stmt) -> list[CandidateView]:
    rows = (await session.execute(stmt)).all()
    reasons = await _reasons(session, [c.id for c, _ in rows])
    return [
        CandidateView(
            candidate_id=c.id,
            artist_id=c.artist_id,
            artist=name,
            month=c.month,
            window=c.window,
            probability=float(c.probability),
            rank=c.rank,
            above_threshold=bool(c.above_threshold),
            first_seen=datetime.fromtimestamp(c.first_seen_ts, UTC),
            plays=c.plays,
            reasons=reasons[c.id][0],
            concerns=reasons[c.id][1],
        )
        for c, name in rows
    ]


def _without_feedback():
    return ~select(Feedback.id).where(Feedback.artist_id == Candidate.artist_id).exists()


def _window_order():
    """The row the one list shows first, then the freshest window."""
    listed = case((Candidate.rank > 0, 0), else_=1)
    return listed, case((Candidate.window == "trailing", 0), else_=1)


def _current_filter(run_id: int):
    """The one list of a run (pipeline.score.one_list: rank > 0), minus judged artists."""
    return (Candidate.run_id == run_id, Candidate.rank > 0, _without_feedback())


async def current_candidates(
    session: AsyncSession, limit: int = 10, offset: int = 0
) -> list[CandidateView]:
    """The latest run's one list: each artist once, by the odds shown, minus judged ones."""
    run_id = (await session.execute(select(func.max(ModelRun.id)))).scalar()
    if run_id is None:
        return []
    stmt = (
        select(Candidate, Artist.name)
        .join(Artist, Artist.id == Candidate.artist_id)
        .where(*_current_filter(run_id))
        .order_by(Candidate.rank)
        .offset(offset)
        .limit(limit)
    )
    return await _views(session, stmt)


async def count_current_candidates(session: AsyncSession) -> int:
    """How many artists `current_candidates` can list in all."""
    run_id = (await session.execute(select(func.max(ModelRun.id)))).scalar()
    if run_id is None:
        return 0
    stmt = select(func.count(Candidate.id)).where(*_current_filter(run_id))
    return int((await session.execute(stmt)).scalar() or 0)


async def standout_candidates(
    session: AsyncSession, run: RunView, limit: int
) -> list[CandidateView]:
    """The top of the one list that stands out (the monthly push's picks): the same artists,
    in the same order, as the ★ of `/candidates`."""
    top = await current_candidates(session, limit)
    return [c for c in top if run.stands_out(c)]


async def find_artist(session: AsyncSession, query: str) -> ArtistMatch:
    """Exact (case-insensitive) name, else the same up to accents, else a fuzzy match."""
    key = artist_key(query)
    if not key:
        return ArtistMatch(None, [])
    plain = fold(key)
    found = await _by_keys(session, [key, plain])
    if key in found:
        return ArtistMatch(found[key], [], exact=True)
    index = await name_index(session)  # folding and fuzzy matching stay off the event loop
    variants = set(index.accented(plain)) | set(found)
    variants.discard(key)
    if len(variants) == 1:
        (only,) = variants
        return ArtistMatch((await _by_keys(session, [only]))[only], [], exact=True)
    best, others = await asyncio.to_thread(index.close, key)
    names = await _by_keys(session, ([best] if best else []) + others)
    return ArtistMatch(names[best] if best else None, [names[k] for k in others if k in names])


async def _by_keys(session: AsyncSession, keys: list[str]) -> dict[str, tuple[int, str]]:
    """(id, name) of the artists with these keys (those that exist)."""
    if not keys:
        return {}
    rows = await session.execute(
        select(Artist.key, Artist.id, Artist.name).where(Artist.key.in_(set(keys)))
    )
    return {k: (i, n) for k, i, n in rows}


async def _monthly_plays(
    session: AsyncSession, artist_id: int, until: datetime, tz: str
) -> list[tuple[str, int]]:
    """Plays per calendar month (the run's time zone), zero months included, up to `until`."""
    ts = (
        (
            await session.execute(
                text("SELECT ts FROM scrobbles WHERE artist_id = :a ORDER BY ts"), {"a": artist_id}
            )
        )
        .scalars()
        .all()
    )
    return plays_per_month(ts, int(until.timestamp()), tz)


def _status_view(row: ArtistStatus) -> StatusView:
    return StatusView(
        month=row.month,
        plays_month=row.plays_month,
        month_total=row.month_total,
        plays_needed=row.plays_needed,
        core_now=row.core_now,
        core_prev1=row.core_prev1,
        core_prev2=row.core_prev2,
        plays_last_month=row.plays_last_month,
        plays_30d=row.plays_30d,
        months_since_discovery=row.months_since_discovery,
        first_seen=datetime.fromtimestamp(row.first_seen_ts, UTC),
        last_played=datetime.fromtimestamp(row.last_played_ts, UTC),
        eligible_month=row.eligible_month,
        eligible_trailing=row.eligible_trailing,
        first_core_month=row.first_core_month,
        last_core_month=row.last_core_month,
        verdict=row.verdict,
    )


async def artist_status(session: AsyncSession, artist_id: int) -> StatusView | None:
    """The artist's stored status from the latest rebuild; None if it was not there yet."""
    row = (
        await session.execute(select(ArtistStatus).where(ArtistStatus.artist_id == artist_id))
    ).scalar_one_or_none()
    return None if row is None else _status_view(row)


def why_not(status: StatusView, cfg: PipelineConfig) -> str:
    """Why an artist is not a candidate, in words, from its stored verdict."""
    if status.verdict == "core":
        plays, needed = status.plays_month, status.plays_needed
        return (
            f"already a core artist ({plays} play{'s' if plays != 1 else ''} this month; "
            f"{needed} make{'s' if needed == 1 else ''} an artist core)"
        )
    if status.verdict == "recently_core":
        when = status.last_core_month
        return "already a core artist" + (f" (core in {month_words(when)})" if when else "")
    if status.verdict == "too_old":
        return f"first played over {cfg.eligible_max_age} months ago, so no longer a new artist"
    if status.verdict == "too_few_plays":
        return (
            f"not eligible: fewer than {cfg.eligible_min_plays} plays in the last "
            f"{cfg.trailing_days} days "
            "and in the last complete month"
        )
    if status.verdict == "candidate":
        return "not among the latest candidates"
    return "not eligible in the latest rebuild"


async def _latest_feedback(session: AsyncSession, artist_id: int) -> FeedbackView | None:
    fb = (
        (
            await session.execute(
                select(Feedback)
                .where(Feedback.artist_id == artist_id)
                .order_by(Feedback.updated_at.desc())
            )
        )
        .scalars()
        .first()
    )
    return None if fb is None else FeedbackView(fb.verdict, fb.month, as_utc(fb.updated_at))


async def _latest_candidate(
    session: AsyncSession, run: RunView | None, artist_id: int
) -> CandidateView | None:
    if run is None:
        return None
    stmt = (
        select(Candidate, Artist.name)
        .join(Artist, Artist.id == Candidate.artist_id)
        .where(Candidate.run_id == run.id, Candidate.artist_id == artist_id)
        .order_by(*_window_order())
        .limit(1)
    )
    views = await _views(session, stmt)
    return views[0] if views else None


async def artist_explanation(
    session: AsyncSession, artist_id: int, cfg: PipelineConfig | None = None
) -> Explanation:
    """Name, discovery, the latest candidate view or why not, status, threshold, monthly plays.

    Raises sqlalchemy.exc.NoResultFound for an unknown artist id.
    """
    cfg = cfg or PipelineConfig()
    name = (await session.execute(select(Artist.name).where(Artist.id == artist_id))).scalar_one()
    first_ts = (
        await session.execute(
            text("SELECT MIN(ts) FROM scrobbles WHERE artist_id = :a"), {"a": artist_id}
        )
    ).scalar()
    first_seen = None if first_ts is None else datetime.fromtimestamp(first_ts, UTC)
    run = await latest_run(session)
    candidate = await _latest_candidate(session, run, artist_id)
    feedback = await _latest_feedback(session, artist_id)
    status = await artist_status(session, artist_id)
    at = run.created_at if run else utc_now()
    monthly = await _monthly_plays(session, artist_id, at, run.timezone if run else "UTC")
    reason = None
    if feedback is not None:
        reason = f"{feedback.word} by you on {feedback.at:%Y-%m-%d}"
    elif candidate is None and run is None:
        reason = "no rebuild yet: run `breakout rebuild`"
    elif candidate is None and status is not None:
        reason = why_not(status, cfg)
    elif candidate is None:
        reason = "not scored yet: first played after the latest rebuild"
    return Explanation(
        artist_id=artist_id,
        artist=name,
        first_seen=first_seen,
        candidate=candidate,
        why_not=reason,
        threshold=run.threshold if run else None,
        monthly_plays=monthly,
        feedback=feedback,
        run=run,
        status=status,
    )


async def artist_name(session: AsyncSession, artist_id: int) -> str | None:
    """The display name of an artist id."""
    return (
        await session.execute(select(Artist.name).where(Artist.id == artist_id))
    ).scalar_one_or_none()


async def idle_since(
    session: AsyncSession, now: datetime, tz: tzinfo, cfg: PipelineConfig | None = None
) -> date | None:
    """The owner's date of the last scrobble when it is older than both scoring windows (the
    last `trailing_days` days and the last complete month): nothing new can be scored."""
    cfg = cfg or PipelineConfig()
    last = (await session.execute(text("SELECT MAX(ts) FROM scrobbles"))).scalar()
    if last is None:
        return None
    last_month = month_start(add_months(local_month(int(now.timestamp()), tz), -1), tz)
    since = min(now.timestamp() - cfg.trailing_days * DAY, last_month)
    return None if last >= since else datetime.fromtimestamp(last, tz).date()
