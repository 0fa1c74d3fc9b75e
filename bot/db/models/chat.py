"""The owner's chat settings and the breakout moments already announced."""

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.timeutil import utc_now


class BotSetting(Base):
    """One setting changed in /settings; absent keys fall back to the environment."""

    __tablename__ = "bot_settings"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class BreakoutMoment(Base):
    """An artist's first time as a core artist; one row per artist ever, claimed before sending."""

    __tablename__ = "breakout_moments"

    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String)  # YYYY-MM in which it became core
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    outcome: Mapped[str] = mapped_column(String, default="running")  # sent | muted | ...
    probability: Mapped[float | None] = mapped_column(Float, default=None)
    flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
