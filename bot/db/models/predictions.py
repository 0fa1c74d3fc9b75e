"""Model runs, scored candidates with their reasons, and the owner's feedback."""

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base, utcnow


class ModelRun(Base):
    """One rebuild: which model scored, with what threshold and metrics."""

    __tablename__ = "model_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String)  # "model" | "fallback"
    message: Mapped[str] = mapped_column(Text, default="")
    model_name: Mapped[str | None] = mapped_column(String, default=None)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    scored_month: Mapped[str | None] = mapped_column(String, default=None)  # YYYY-MM
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    trained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
