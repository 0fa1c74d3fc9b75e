"""State of the Last.fm sync, one row per username."""

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base


class SyncState(Base):
    """Cursor and bookkeeping of the backfill and the incremental syncs."""

    __tablename__ = "sync_state"

    username: Mapped[str] = mapped_column(String, primary_key=True)
    # Backfill cursor: `to` pinned at the run's start, the next page to fetch, pages known.
    backfill_to: Mapped[int | None] = mapped_column(Integer, default=None)
    backfill_next_page: Mapped[int | None] = mapped_column(Integer, default=None)
    backfill_total_pages: Mapped[int | None] = mapped_column(Integer, default=None)
    backfill_done: Mapped[bool] = mapped_column(default=False)
    # Highest scrobble timestamp seen; incremental syncs re-read 14 days before it.
    high_water_ts: Mapped[int | None] = mapped_column(Integer, default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(String, default=None)
