"""Listening history: artists and scrobbles."""

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base


class Artist(Base):
    """One artist, identified by its normalized name key."""

    __tablename__ = "artists"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    name: Mapped[str] = mapped_column(String)
    mbid: Mapped[str | None] = mapped_column(String, default=None)


class Scrobble(Base):
    """One play; (ts, artist, track, album) identifies it."""

    __tablename__ = "scrobbles"
    __table_args__ = (
        UniqueConstraint("ts", "artist_id", "track", "album"),
        Index("ix_scrobbles_artist_id_ts", "artist_id", "ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[int] = mapped_column(Integer)  # the unique index leads with ts
    artist_id: Mapped[int] = mapped_column(ForeignKey("artists.id"))
    artist_name: Mapped[str] = mapped_column(String)
    track: Mapped[str] = mapped_column(String)
    album: Mapped[str] = mapped_column(String, default="")
    track_mbid: Mapped[str | None] = mapped_column(String, default=None)
    album_mbid: Mapped[str | None] = mapped_column(String, default=None)
