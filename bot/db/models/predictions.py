"""Model runs, candidates and reasons, feedback, predictions, artist status and breakouts."""

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.timeutil import utc_now


class ModelRun(Base):
    """One rebuild: which model scored, with what threshold and metrics."""

    __tablename__ = "model_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    status: Mapped[str] = mapped_column(String)  # "model" | "fallback"
    message: Mapped[str] = mapped_column(Text, default="")
    model_name: Mapped[str | None] = mapped_column(String, default=None)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    scored_month: Mapped[str | None] = mapped_column(String, default=None)  # YYYY-MM
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    trained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # the owner's time zone whose calendar months this run scored
    timezone: Mapped[str] = mapped_column(String, default="UTC", server_default="UTC")


class Candidate(Base):
    """An artist scored in a run; its id is what buttons carry in callback_data."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("run_id", "window", "artist_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"), index=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"))
    month: Mapped[str] = mapped_column(String)  # YYYY-MM the features describe
    window: Mapped[str] = mapped_column(String)  # "month" | "trailing"
    probability: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    above_threshold: Mapped[bool] = mapped_column(default=False)
    first_seen_ts: Mapped[int] = mapped_column(Integer)
    plays: Mapped[int] = mapped_column(Integer)


class CandidateReason(Base):
    """One plain-language reason behind a candidate's score."""

    __tablename__ = "candidate_reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("candidates.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    feature: Mapped[str] = mapped_column(String)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    contribution: Mapped[float] = mapped_column(Float)
    sentence: Mapped[str] = mapped_column(Text)


class Feedback(Base):
    """The owner's verdict on an artist-month: 1 confirm, 0 dismiss; overrides the rule label."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("artist_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), index=True)
    month: Mapped[str] = mapped_column(String)  # YYYY-MM
    verdict: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Prediction(Base):
    """A prediction as it was made, never changed afterwards except its resolution.

    Self-contained (artist name, model, threshold) and not tied to `model_runs` by a foreign
    key: runs are pruned, the track record is not.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("window", "artist_id", "month"),
        Index("ix_predictions_outcome_month", "outcome", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), index=True)
    artist_name: Mapped[str] = mapped_column(String)
    window: Mapped[str] = mapped_column(String)  # "month" | "trailing"
    month: Mapped[str] = mapped_column(String)  # YYYY-MM (owner's time zone) the features describe
    probability: Mapped[float] = mapped_column(Float)
    above_threshold: Mapped[bool] = mapped_column(default=False)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    model_name: Mapped[str | None] = mapped_column(String, default=None)
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)  # may be pruned
    plays: Mapped[int] = mapped_column(Integer)
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String, default=None)  # None open | core | not_core
    core_month: Mapped[str | None] = mapped_column(String, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ArtistStatus(Base):
    """Where an artist stands under the rules at the latest rebuild (replaced by each rebuild)."""

    __tablename__ = "artist_status"

    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[str] = mapped_column(String)  # the month in progress, YYYY-MM
    plays_month: Mapped[int] = mapped_column(Integer)
    month_total: Mapped[int] = mapped_column(Integer)
    plays_needed: Mapped[int] = mapped_column(Integer)
    core_now: Mapped[bool] = mapped_column()
    core_prev1: Mapped[bool] = mapped_column()
    core_prev2: Mapped[bool] = mapped_column()
    plays_last_month: Mapped[int] = mapped_column(Integer)
    plays_30d: Mapped[int] = mapped_column(Integer)
    months_since_discovery: Mapped[int] = mapped_column(Integer)
    first_seen_ts: Mapped[int] = mapped_column(Integer)
    last_played_ts: Mapped[int] = mapped_column(Integer)
    eligible_month: Mapped[bool] = mapped_column()
    eligible_trailing: Mapped[bool] = mapped_column()
    first_core_month: Mapped[str | None] = mapped_column(String, default=None)
    last_core_month: Mapped[str | None] = mapped_column(String, default=None)  # complete months
    verdict: Mapped[str] = mapped_column(String)  # pipeline.status.VERDICTS


class Breakout(Base):
    """The first time an artist was seen core; `historical` ones predate the watching."""

    __tablename__ = "breakouts"

    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String)  # first core month, YYYY-MM
    plays: Mapped[int] = mapped_column(Integer)  # plays in that month when seen
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    historical: Mapped[bool] = mapped_column(default=False)


class TrackRecordCache(Base):
    """A computed track record kept for reading in milliseconds (live and backtest)."""

    __tablename__ = "track_record_cache"

    kind: Mapped[str] = mapped_column(String, primary_key=True)  # "live" | "backtest"
    fingerprint: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str] = mapped_column(Text)
