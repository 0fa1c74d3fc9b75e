"""Last.fm: the API client and the fault-proof history sync."""

from bot.lastfm.client import (
    LastfmClient,
    LastfmError,
    LastfmFatalError,
    LastfmUnavailable,
    Page,
    RetryPolicy,
)
from bot.lastfm.sync import SyncConflict, SyncReport, sync_history

__all__ = [
    "LastfmClient",
    "LastfmError",
    "LastfmFatalError",
    "LastfmUnavailable",
    "Page",
    "RetryPolicy",
    "SyncConflict",
    "SyncReport",
    "sync_history",
]
