"""ListenBrainz: the listens client and the fault-proof history sync."""

from bot.listenbrainz.client import (
    ListenBrainzClient,
    ListenBrainzError,
    ListenBrainzFatalError,
    ListenBrainzUnavailable,
    ListensPage,
)
from bot.listenbrainz.sync import state_key, sync_listens

__all__ = [
    "ListenBrainzClient",
    "ListenBrainzError",
    "ListenBrainzFatalError",
    "ListenBrainzUnavailable",
    "ListensPage",
    "state_key",
    "sync_listens",
]
