"""Cached artist metadata, one row per (artist, source), with the time it was fetched."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base
from bot.timeutil import utc_now


class ArtistMetadata(Base):
    """What a source (lastfm | spotify) knows about an artist; status ok | unknown | error."""

    __tablename__ = "artist_metadata"

    artist_id: Mapped[int] = mapped_column(
        ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String, primary_key=True)
    status: Mapped[str] = mapped_column(String)
    payload_json: Mapped[str] = mapped_column(Text, default="{}")
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
