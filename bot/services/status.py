"""What is stored, when it was synced, how predictions fared: one read for `status` and /status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ModelRun, Scrobble, SyncState
from bot.db.scrobbles import HistoryStats, history_stats
from bot.db.session import Database
from bot.render import verdict_sentence
from bot.services import jobruns
from bot.services.record import load_track_record
from bot.timeutil import add_months, as_utc, month_start
from pipeline.config import PipelineConfig
from pipeline.record import TrackRecord
from pipeline.status import plays_needed

# Scheduled jobs as a person calls them (job_runs keeps the short names).
JOB_NAMES = {
    "sync": "sync",
    "nightly": "nightly rebuild",
    "monthly_push": "monthly push",
    "digest": "weekly digest",
    "import": "import",
    "startup": "catch-up at start",
}


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z; SQLite hands stored datetimes back without their zone."""
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Summary:
    """Everything both status views show, read in one session."""

    stats: HistoryStats
    last_sync: datetime | None
    last_error: str | None
    backfill_done: bool | None
    run: ModelRun | None
    record: TrackRecord
    last_jobs: dict[str, tuple[datetime, str]]  # job -> (started at, outcome)


async def load_summary(session: AsyncSession) -> Summary:
    """The summary from one session."""
    stats = await history_stats(session)
    sync = (
        (await session.execute(select(SyncState).order_by(SyncState.last_sync_at.desc())))
        .scalars()
        .first()
    )
    last_sync = (await session.execute(select(func.max(SyncState.last_sync_at)))).scalar()
    run = (
        await session.execute(select(ModelRun).order_by(ModelRun.id.desc()).limit(1))
    ).scalar_one_or_none()
    latest = await jobruns.latest(session)
    return Summary(
        stats,
        as_utc(last_sync),
        sync.last_error if sync else None,
        bool(sync.backfill_done) if sync else None,
        run,
        await load_track_record(session),
        {job: (as_utc(r.started_at), r.outcome) for job, r in latest.items()},
    )


async def month_totals(session: AsyncSession, months: Sequence[str], tz: tzinfo) -> dict[str, int]:
    """Scrobbles in each of `months` (the owner's months; a few, one indexed COUNT each)."""
    out = {}
    for month in months:
        lo, hi = month_start(month, tz), month_start(add_months(month, 1), tz)
        count = select(func.count()).where(
            Scrobble.ts >= int(lo.timestamp()), Scrobble.ts < int(hi.timestamp())
        )
        out[month] = int((await session.execute(count)).scalar() or 0)
    return out


async def past_core_bars(
    session: AsyncSession, months: Sequence[str], tz: tzinfo, cfg: PipelineConfig
) -> dict[str, int]:
    """Plays that made an artist core in each of the complete `months`."""
    totals = await month_totals(session, months, tz)
    return {month: int(plays_needed(total, cfg)) for month, total in totals.items()}


def as_json(s: Summary) -> dict[str, object]:
    """The summary as the JSON of `breakout status --json`."""
    run = s.run
    return {
        "scrobbles": s.stats.scrobbles,
        "artists": s.stats.artists,
        "first_scrobble": HistoryStats.iso(s.stats.first_ts),
        "last_scrobble": HistoryStats.iso(s.stats.last_ts),
        "last_sync": iso_utc(s.last_sync),
        "backfill_done": s.backfill_done,
        "track_record": record_line(s.record),
        "model": None
        if run is None
        else {
            "status": run.status,
            "model_name": run.model_name,
            "threshold": run.threshold,
            "scored_month": run.scored_month,
            "rebuilt_at": iso_utc(run.created_at),
            "message": run.message,
        },
    }


async def collect_status(db: Database) -> dict[str, object]:
    """Everything `status --json` reports."""
    async with db.sessions() as session:
        return as_json(await load_summary(session))


def _day(ts: int | None, tz: tzinfo) -> str:
    if ts is None:
        return "-"
    local = datetime.fromtimestamp(ts, UTC).astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def _when(moment: datetime, tz: tzinfo, now: datetime) -> str:
    local, today = moment.astimezone(tz), now.astimezone(tz)
    if local.date() == today.date():
        return f"today {local:%H:%M}"
    return f"{local.day} {local:%b} {local:%H:%M}"


def record_line(record: TrackRecord) -> str:
    """The track record in one line: the verdict /record opens with."""
    if record.source == "none":
        return "Track record: not built yet."
    return verdict_sentence(record)


def status_lines(
    s: Summary, tz: tzinfo, now: datetime, next_runs: list[tuple[str, datetime]]
) -> list[str]:
    """The status a person reads (plain text lines; the chat escapes and bolds)."""
    st = s.stats
    lines = [
        f"History: {st.scrobbles:,} scrobbles of {st.artists:,} artists, "
        f"{_day(st.first_ts, tz)} – {_day(st.last_ts, tz)}",
        "Last sync: " + (_when(s.last_sync, tz, now) if s.last_sync else "never"),
    ]
    if s.last_error:
        lines.append(f"Last sync problem: {s.last_error}")
    if next_runs:
        lines.append(
            "Next: "
            + " · ".join(f"{JOB_NAMES.get(n, n)} {_when(t, tz, now)}" for n, t in next_runs)
        )
    lines.append(record_line(s.record))
    return lines


OUTCOME_WORDS = {
    "ok": "done",
    "error": "failed",
    "interrupted": "cut short by a restart",
    "undelivered": "not delivered yet",
    "running": "running now",
}


def detail_lines(s: Summary, tz: tzinfo, now: datetime) -> list[str]:
    """The details behind the "details" button and `status`, still in words."""
    run = s.run
    if run is None:
        lines = ["Predictions: none yet (the first rebuild makes them)"]
    else:
        how = (
            "odds learned from your past breakouts"
            if run.status == "model"
            else "ranked by how close each artist is to core (too few breakouts to learn odds)"
        )
        lines = [
            f"Predictions: {how}",
            f"Last rebuild: {_when(as_utc(run.created_at), tz, now)}",
        ]
    lines.extend(
        f"Last {JOB_NAMES[job]}: {_when(at, tz, now)}, {OUTCOME_WORDS.get(outcome, outcome)}"
        for job, (at, outcome) in sorted(s.last_jobs.items())
        if job in JOB_NAMES
    )
    return lines
