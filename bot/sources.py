"""The listening source of this installation (LISTENS_SOURCE): one sync entry point for the
`breakout sync` command and the bot's scheduled and manual syncs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.config import Settings
from bot.lastfm.client import LastfmClient, RetryPolicy
from bot.lastfm.sync import Progress, SyncReport, sync_history
from bot.listenbrainz.client import ListenBrainzClient
from bot.listenbrainz.sync import state_key, sync_listens


class SourceSync(Protocol):
    """Syncs one user's history from one source into the database."""

    name: str  # "Last.fm" or "ListenBrainz", for messages
    username: str
    state_key: str  # its row in sync_state

    async def sync(
        self, sessions: async_sessionmaker, *, full: bool = False, progress: Progress | None = None
    ) -> SyncReport:
        """Backfill, resume or incrementally sync; see sync_history / sync_listens."""
        ...


@dataclass
class LastfmSource:
    """Last.fm user.getRecentTracks, paged."""

    client: LastfmClient
    username: str
    name: str = "Last.fm"

    @property
    def state_key(self) -> str:
        """Last.fm rows are keyed by the lower-cased user name alone (the original schema)."""
        return self.username.lower()

    async def sync(
        self, sessions: async_sessionmaker, *, full: bool = False, progress: Progress | None = None
    ) -> SyncReport:
        """One Last.fm sync."""
        return await sync_history(
            sessions, self.client, self.username, full=full, progress=progress
        )


@dataclass
class ListenBrainzSource:
    """ListenBrainz /1/user/{user}/listens, walked by max_ts."""

    client: ListenBrainzClient
    username: str
    name: str = "ListenBrainz"

    @property
    def state_key(self) -> str:
        """ListenBrainz rows carry a "listenbrainz:" prefix."""
        return state_key(self.username)

    async def sync(
        self, sessions: async_sessionmaker, *, full: bool = False, progress: Progress | None = None
    ) -> SyncReport:
        """One ListenBrainz sync."""
        return await sync_listens(
            sessions, self.client, self.username, full=full, progress=progress
        )


def make_lastfm_client(
    settings: Settings, http: httpx.AsyncClient, *, retry: RetryPolicy | None = None
) -> LastfmClient | None:
    """The Last.fm client (sync and artist metadata) when LASTFM_API_KEY is set."""
    key = settings.LASTFM_API_KEY.get_secret_value() if settings.LASTFM_API_KEY else ""
    if not key:
        return None
    return LastfmClient(
        http, settings.LASTFM_API_URL, key, settings.LASTFM_REQUESTS_PER_SECOND, retry=retry
    )


def make_source_sync(
    settings: Settings,
    http: httpx.AsyncClient,
    *,
    lastfm: LastfmClient | None = None,
    retry: RetryPolicy | None = None,
) -> SourceSync:
    """The configured source; ConfigError names a missing setting. Reuses `lastfm` if given."""
    settings.require_source()
    if settings.LISTENS_SOURCE == "listenbrainz":
        assert settings.LISTENBRAINZ_USERNAME is not None
        token = (
            settings.LISTENBRAINZ_TOKEN.get_secret_value() if settings.LISTENBRAINZ_TOKEN else None
        )
        client = ListenBrainzClient(
            http,
            settings.LISTENBRAINZ_API_URL,
            token,
            settings.LISTENBRAINZ_REQUESTS_PER_SECOND,
            retry=retry,
        )
        return ListenBrainzSource(client, settings.LISTENBRAINZ_USERNAME)
    assert settings.LASTFM_USERNAME is not None
    client_lastfm = lastfm or make_lastfm_client(settings, http, retry=retry)
    assert client_lastfm is not None
    return LastfmSource(client_lastfm, settings.LASTFM_USERNAME)
