"""Spotify Web API with the client-credentials flow: an artist's genres, popularity, image."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bot.metadata import clean
from bot.metadata.clean import MalformedMetadata
from pipeline.errors import UserError
from pipeline.normalize import artist_key

TOKEN_MARGIN_SECONDS = 60


class SpotifyError(UserError):
    """Spotify refused or failed; the message is one line, without credentials."""


class _ExpiredToken(SpotifyError):
    """The access token was refused; a new one may work."""


class SpotifyClient:
    """Searches artists by name; fetches and renews an app token as needed."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        *,
        api_url: str = "https://api.spotify.com/v1",
        token_url: str = "https://accounts.spotify.com/api/token",
        timeout: float = 10.0,
    ) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self.token_url = token_url
        self.timeout = timeout
        self._auth = (client_id, client_secret)
        self._token: str | None = None
        self._expires = 0.0

    async def _access_token(self) -> str:
        if self._token and time.monotonic() < self._expires:
            return self._token
        try:
            response = await self.http.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=self._auth,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise SpotifyError(f"Spotify token request failed ({type(exc).__name__})") from None
        if response.status_code in (400, 401):
            raise SpotifyError(
                "Spotify rejected the client credentials: check SPOTIFY_CLIENT_ID/SECRET"
            )
        body = _json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            raise SpotifyError(f"Spotify token request answered HTTP {response.status_code}")
        lifetime = body.get("expires_in") if isinstance(body.get("expires_in"), int) else 3600
        self._token = token
        self._expires = time.monotonic() + max(0, lifetime - TOKEN_MARGIN_SECONDS)
        return token

    async def artist(self, name: str) -> dict[str, Any] | None:
        """genres, popularity, image_url and url of the artist named `name`; None if unknown."""
        try:
            return await self._search(name)
        except _ExpiredToken:  # revoked or expired early: one retry with a fresh token
            return await self._search(name)

    async def _search(self, name: str) -> dict[str, Any] | None:
        token = await self._access_token()
        try:
            response = await self.http.get(
                f"{self.api_url}/search",
                params={"q": name, "type": "artist", "limit": "5"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise SpotifyError(f"Spotify search failed ({type(exc).__name__})") from None
        if response.status_code == 401:
            self._token = None
            raise _ExpiredToken("Spotify refused the access token (HTTP 401)")
        if response.status_code == 429:
            raise SpotifyError("Spotify rate limit reached (HTTP 429)")
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise SpotifyError(f"Spotify search answered HTTP {response.status_code}")
        return _best_match(body, name)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _width(image: dict[str, Any]) -> int:
    width = image.get("width")
    return width if isinstance(width, int) and not isinstance(width, bool) else 0


def _best_match(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The first search result with the same normalized name, as our payload (typed, capped)."""
    artists = body.get("artists")
    items = artists.get("items") if isinstance(artists, dict) else None
    key = artist_key(name)
    for item in items[: clean.MAX_ITEMS_READ] if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        if artist_key(item["name"][: clean.MAX_NAME_CHARS]) != key:
            continue
        images, urls = item.get("images") or [], item.get("external_urls") or {}
        if not isinstance(images, list) or not isinstance(urls, dict):
            raise MalformedMetadata("images or external_urls of the wrong type")
        images = [i for i in images[: clean.MAX_ITEMS_READ] if isinstance(i, dict) and i.get("url")]
        images.sort(key=lambda i: -_width(i))
        return clean.spotify_payload(
            {
                "name": item["name"],
                "genres": item.get("genres"),
                "popularity": item.get("popularity"),
                "image_url": images[0]["url"] if images else None,
                "url": urls.get("spotify"),
            }
        )
    return None
