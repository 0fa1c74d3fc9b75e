"""Read-only queries behind `/candidates`, `/why`, the monthly push and the CLI (milliseconds)."""

from __future__ import annotations

import asyncio
import difflib
import json
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models import Artist, Candidate, CandidateReason, Feedback, ModelRun
from pipeline.config import PipelineConfig
from pipeline.normalize import artist_key


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored one is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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


def _run_view(run: ModelRun) -> RunView:
    return RunView(
        id=run.id,
        created_at=_utc(run.created_at),
        status=run.status,
        message=run.message or "",
        model_name=run.model_name,
        threshold=run.threshold,
        scored_month=run.scored_month,
        metrics_json=run.metrics_json or "{}",
        trained_at=_utc(run.trained_at),
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
    return case((Candidate.window == "trailing", 0), else_=1)


def _current_filter(run_id: int):
    other = aliased(Candidate)
    in_trailing = (
        select(other.id)
        .where(
            other.run_id == Candidate.run_id,
            other.artist_id == Candidate.artist_id,
            other.window == "trailing",
        )
        .exists()
    )
    return (
        Candidate.run_id == run_id,
        (Candidate.window == "trailing") | ~in_trailing,
        _without_feedback(),
    )


async def current_candidates(
    session: AsyncSession, limit: int = 10, offset: int = 0
) -> list[CandidateView]:
    """The latest run's candidates, trailing window first, each artist once, minus judged ones."""
    run_id = (await session.execute(select(func.max(ModelRun.id)))).scalar()
    if run_id is None:
        return []
    stmt = (
        select(Candidate, Artist.name)
        .join(Artist, Artist.id == Candidate.artist_id)
        .where(*_current_filter(run_id))
        .order_by(_window_order(), Candidate.rank)
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


async def monthly_candidates(session: AsyncSession, month: str, limit: int) -> list[CandidateView]:
    """Above-threshold "month"-window candidates of `month` from the newest run that scored it."""
    run_id = (
        await session.execute(
            select(func.max(Candidate.run_id)).where(
                Candidate.window == "month", Candidate.month == month
            )
        )
    ).scalar()
    if run_id is None:
        return []
    stmt = (
        select(Candidate, Artist.name)
        .join(Artist, Artist.id == Candidate.artist_id)
        .where(
            Candidate.run_id == run_id,
            Candidate.window == "month",
            Candidate.month == month,
            Candidate.above_threshold.is_(True),
            _without_feedback(),
        )
        .order_by(Candidate.rank)
        .limit(limit)
    )
    return await _views(session, stmt)


def _close(query: str, names: dict[str, tuple[int, str]]) -> tuple[str | None, list[str]]:
    """(confident match or None, close keys): unique substring or high similarity, else nearest."""
    keys = list(names)
    contains = [k for k in keys if query in k]
    close = difflib.get_close_matches(query, keys, n=5, cutoff=0.6)
    if len(contains) == 1 and len(query) >= 3:
        return contains[0], [k for k in close if k != contains[0]]
    if close and difflib.SequenceMatcher(None, query, close[0]).ratio() >= 0.85:
        return close[0], close[1:]
    nearest = contains[:5] + [k for k in close if k not in contains]
    if not nearest:
        nearest = difflib.get_close_matches(query, keys, n=5, cutoff=0.3)
    return None, nearest[:5]


async def find_artist(session: AsyncSession, query: str) -> ArtistMatch:
    """Exact (case-insensitive) name, else a fuzzy match; close names as suggestions."""
    key = artist_key(query)
    if not key:
        return ArtistMatch(None, [])
    exact = (
        await session.execute(select(Artist.id, Artist.name).where(Artist.key == key))
    ).one_or_none()
    if exact is not None:
        return ArtistMatch((exact[0], exact[1]), [], exact=True)
    rows = (await session.execute(select(Artist.key, Artist.id, Artist.name))).all()
    names = {k: (i, n) for k, i, n in rows}
    folded = [names[k] for k in names if _fold(k) == _fold(key)]
    if len(folded) == 1:
        return ArtistMatch(folded[0], [], exact=True)
    best, others = await asyncio.to_thread(_close, key, names)
    return ArtistMatch(names[best] if best else None, [names[k] for k in others])


def _fold(key: str) -> str:
    """An artist key without accents ('beyoncé' -> 'beyonce')."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", key) if not unicodedata.combining(ch))


async def _monthly_plays(
    session: AsyncSession, artist_id: int, until: datetime
) -> list[tuple[str, int]]:
    rows = (
        await session.execute(
            text(
                "SELECT strftime('%Y-%m', ts, 'unixepoch') AS m, COUNT(*) FROM scrobbles "
                "WHERE artist_id = :a GROUP BY m ORDER BY m"
            ),
            {"a": artist_id},
        )
    ).all()
    if not rows:
        return []
    counts = dict(rows)
    first = datetime.strptime(rows[0][0], "%Y-%m")
    last = max(datetime.strptime(rows[-1][0], "%Y-%m"), until.replace(tzinfo=None, day=1))
    out: list[tuple[str, int]] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        label = f"{year:04d}-{month:02d}"
        out.append((label, int(counts.get(label, 0))))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _why_not(
    monthly: list[tuple[str, int]],
    totals: dict[str, int],
    first_seen: datetime,
    at: datetime,
    cfg: PipelineConfig,
) -> str:
    """Which eligibility rule keeps an artist out (checked on calendar months up to `at`)."""
    recent = monthly[-(cfg.eligible_not_core_lookback + 2) :]
    for month, plays in reversed(recent):
        total = totals.get(month, 0)
        if plays >= cfg.core_plays or (total and plays / total >= cfg.core_share):
            return f"already a core artist ({plays} plays in {month})"
    age_months = (at.year - first_seen.year) * 12 + at.month - first_seen.month
    if age_months > cfg.eligible_max_age:
        return f"not eligible: discovered more than {cfg.eligible_max_age} months ago"
    return (
        f"not eligible: fewer than {cfg.eligible_min_plays} plays in the last 30 days "
        "and in the last complete month"
    )


async def artist_explanation(
    session: AsyncSession, artist_id: int, cfg: PipelineConfig | None = None
) -> Explanation:
    """Name, discovery, the latest candidate view or why not, threshold, monthly plays.

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
    candidate = None
    if run is not None:
        stmt = (
            select(Candidate, Artist.name)
            .join(Artist, Artist.id == Candidate.artist_id)
            .where(Candidate.run_id == run.id, Candidate.artist_id == artist_id)
            .order_by(_window_order())
            .limit(1)
        )
        views = await _views(session, stmt)
        candidate = views[0] if views else None
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
    feedback = None if fb is None else FeedbackView(fb.verdict, fb.month, _utc(fb.updated_at))
    at = run.created_at if run else datetime.now(UTC)
    monthly = await _monthly_plays(session, artist_id, at)
    why_not = None
    if feedback is not None:
        why_not = f"{feedback.word} by you on {feedback.at:%Y-%m-%d}"
    elif candidate is None and run is None:
        why_not = "no rebuild yet: run `breakout rebuild`"
    elif candidate is None and first_seen is not None:
        months = [m for m, _ in monthly[-(cfg.eligible_not_core_lookback + 2) :]]
        totals = dict(
            (
                await session.execute(
                    text(
                        "SELECT strftime('%Y-%m', ts, 'unixepoch') AS m, COUNT(*) FROM scrobbles "
                        "WHERE ts >= :lo GROUP BY m"
                    ),
                    {
                        "lo": int(
                            datetime.strptime(months[0], "%Y-%m").replace(tzinfo=UTC).timestamp()
                        )
                    },
                )
            ).all()
        )
        why_not = _why_not(monthly, totals, first_seen, at, cfg)
    return Explanation(
        artist_id=artist_id,
        artist=name,
        first_seen=first_seen,
        candidate=candidate,
        why_not=why_not,
        threshold=run.threshold if run else None,
        monthly_plays=monthly,
        feedback=feedback,
        run=run,
    )


async def artist_name(session: AsyncSession, artist_id: int) -> str | None:
    """The display name of an artist id."""
    return (
        await session.execute(select(Artist.name).where(Artist.id == artist_id))
    ).scalar_one_or_none()
