"""One artist's metadata from every configured source; a failing source pauses, logged once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from bot.lastfm.client import LastfmClient, LastfmError
from bot.metadata.clean import MalformedMetadata
from bot.metadata.lastfm import fetch_lastfm
from bot.metadata.spotify import SpotifyClient, SpotifyError

log = logging.getLogger(__name__)

LASTFM, SPOTIFY = "lastfm", "spotify"
PAUSE_SECONDS = 600.0  # after a failure a source is left alone this long
MAX_AGE = timedelta(days=30)  # the default of BREAKOUT_METADATA_MAX_AGE_DAYS


@dataclass(frozen=True)
class Fetched:
    """What one source said about one artist: status "ok" (payload) or "unknown"."""

    source: str
    status: str
    payload: dict[str, Any] = field(default_factory=dict)


class MetadataFetcher:
    """Asks Last.fm (and Spotify when configured); errors give no answer, never an exception."""

    def __init__(
        self,
        lastfm: LastfmClient | None,
        spotify: SpotifyClient | None = None,
        *,
        pause_seconds: float = PAUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self._clients: dict[str, Any] = {
            name: client for name, client in ((LASTFM, lastfm), (SPOTIFY, spotify)) if client
        }
        self.pause_seconds = pause_seconds
        self.max_age = max_age  # stored answers older than this are fetched again
        self._clock = clock
        self._paused_until: dict[str, float] = {}
        self._failing: set[str] = set()

    @property
    def sources(self) -> list[str]:
        """Names of the configured sources."""
        return list(self._clients)

    async def fetch(self, name: str) -> list[Fetched]:
        """Answers of the sources that are not paused; a failure pauses its source."""
        out = []
        for source, client in self._clients.items():
            if self._clock() < self._paused_until.get(source, 0.0):
                continue
            try:
                if source == LASTFM:
                    payload = await fetch_lastfm(client, name)
                else:
                    payload = await client.artist(name)
            except (LastfmError, SpotifyError, httpx.HTTPError) as exc:
                self._failed(source, str(exc) or type(exc).__name__)
                continue
            except MalformedMetadata as exc:  # nothing is cached: asked again next time
                log.warning("%s metadata for %r refused: %s", source, name[:100], exc)
                continue
            if source in self._failing:
                log.info("%s metadata available again", source)
                self._failing.discard(source)
            if payload is None:
                log.info("%s has no metadata for %r", source, name)
            out.append(Fetched(source, "ok" if payload else "unknown", payload or {}))
        return out

    def _failed(self, source: str, reason: str) -> None:
        self._paused_until[source] = self._clock() + self.pause_seconds
        if source not in self._failing:
            log.warning(
                "%s metadata unavailable (%s); artists show no %s metadata for now",
                source,
                reason,
                source,
            )
            self._failing.add(source)
        else:
            log.debug("%s metadata still unavailable (%s)", source, reason)


def make_fetcher(settings: Any, http: httpx.AsyncClient, lastfm: LastfmClient | None = None):
    """The fetcher the settings allow (None without a Last.fm key or Spotify credentials).

    Pass the process's LastfmClient to share its rate limiter with the sync.
    """
    if lastfm is None and settings.LASTFM_API_KEY is not None:
        lastfm = LastfmClient(
            http,
            settings.LASTFM_API_URL,
            settings.LASTFM_API_KEY.get_secret_value(),
            settings.LASTFM_REQUESTS_PER_SECOND,
        )
    spotify = None
    if settings.spotify_enabled:
        spotify = SpotifyClient(
            http,
            settings.SPOTIFY_CLIENT_ID,
            settings.SPOTIFY_CLIENT_SECRET.get_secret_value(),
            api_url=settings.SPOTIFY_API_URL,
            token_url=settings.SPOTIFY_TOKEN_URL,
        )
    if lastfm is None and spotify is None:
        return None
    max_age = timedelta(days=settings.BREAKOUT_METADATA_MAX_AGE_DAYS)
    return MetadataFetcher(lastfm, spotify, max_age=max_age)
