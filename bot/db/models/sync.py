"""State of the sync, one row per source user: "name" (Last.fm) or "listenbrainz:name"."""

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.models.base import Base


class SyncState(Base):
    """Cursor of the page walk in progress and bookkeeping of completed syncs.

    A walk reads every page of one (cursor_from, cursor_to) range, newest first; `cursor_to`
    is pinned when the walk starts so pages do not shift, and `cursor_page` is committed with
    each page's scrobbles, so an interrupted walk resumes exactly there. A ListenBrainz walk
    has no page numbers: its `cursor_to` is the exclusive max_ts of the next request, moved
    with each page, and `cursor_page` counts pages.
    """

    __tablename__ = "sync_state"

    username: Mapped[str] = mapped_column(String, primary_key=True)
    # True once a walk over the whole history (cursor_from None) has completed.
    backfill_done: Mapped[bool] = mapped_column(default=False)
    # The walk in progress; cursor_page is None when none is.
    cursor_from: Mapped[int | None] = mapped_column(Integer, default=None)
    cursor_to: Mapped[int | None] = mapped_column(Integer, default=None)
    cursor_page: Mapped[int | None] = mapped_column(Integer, default=None)
    cursor_total_pages: Mapped[int | None] = mapped_column(Integer, default=None)
    # `to` of the last completed walk (ListenBrainz: the newest listen read by then); the next
    # incremental walk starts 14 days before it (or before high_water_ts, if older).
    synced_to: Mapped[int | None] = mapped_column(Integer, default=None)
    # Newest scrobble timestamp read from the source.
    high_water_ts: Mapped[int | None] = mapped_column(Integer, default=None)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_error: Mapped[str | None] = mapped_column(String, default=None)
