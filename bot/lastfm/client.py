"""Last.fm over one shared httpx client: recent tracks (parsed, retried), artist calls."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd

from bot.errors import SourceError
from bot.timeutil import utc_now
from pipeline.plausible import MAX_MBID_CHARS, MAX_NAME_CHARS, clean_names, implausible_ts

log = logging.getLogger(__name__)

PAGE_SIZE = 200
RETRYABLE_CODES = {8: "operation failed", 11: "service offline", 16: "temporary error"}
RATE_LIMITED = 29
FRAME_COLUMNS = ["ts", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid"]
USER_AGENT = "breakout-artists/0.1"
HTTP_TIMEOUT = 30.0


def make_http_client() -> httpx.AsyncClient:
    """The one HTTP client of a process (CLI or bot): identifying User-Agent, redirects, timeout."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
        timeout=httpx.Timeout(HTTP_TIMEOUT),
    )


class LastfmError(SourceError):
    """Last.fm answered something we cannot use; the message is one line for the user."""


class LastfmFatalError(LastfmError):
    """Retrying cannot help: bad or suspended key, no such user, private profile."""


class LastfmUnavailable(LastfmError):
    """Last.fm kept failing after every retry; try again later."""


class _Transient(Exception):
    """One failed attempt that is worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Garbled(_Transient):
    """A 200 answer that is not JSON Python can read: truncated, bad UTF-8, a number beyond
    the digit limit, nesting beyond the recursion limit."""


def _fatal_message(code: int, user: str) -> str | None:
    messages = {
        10: "Last.fm rejected the API key (error 10): check LASTFM_API_KEY",
        26: "Last.fm suspended this API key (error 26): request a new one and set LASTFM_API_KEY",
        6: f"Last.fm has no user {user!r} (error 6): check LASTFM_USERNAME",
        17: f"the Last.fm profile of {user!r} is private (error 17): make recent listening "
        "public in the Last.fm privacy settings",
    }
    return messages.get(code)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter: attempt k waits U(0, min(cap, base*2^k))."""

    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, failures: int, draw: float) -> float:
        """Delay after the `failures`-th failed attempt (1-based); `draw` is uniform in [0, 1)."""
        return draw * min(self.max_delay, self.base_delay * 2 ** (failures - 1))


@dataclass(frozen=True)
class Page:
    """One parsed page of recent tracks, newest first, without the now-playing row."""

    page: int
    total_pages: int
    total: int
    frame: pd.DataFrame  # FRAME_COLUMNS, one row per dated scrobble
    listed: int  # track entries on the page, now-playing and invalid ones included
    skipped_now_playing: int
    skipped_invalid: int  # uts missing or implausible, no artist name, values of a wrong type
    capped: int = 0  # names cut to MAX_NAME_CHARS


class RateLimiter:
    """Spaces request starts at least 1/rate seconds apart across every caller of one client."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next request may start."""
        async with self._lock:
            delay = self._next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = time.monotonic() + self.interval


def _text(value: Any, *keys: str) -> str | None:
    """A string field given plainly or as {"#text": ...} / {"name": ...}; None if mistyped."""
    if value is None:
        return ""
    if isinstance(value, dict):
        for key in keys:
            if key in value and value[key] is not None:
                return value[key] if isinstance(value[key], str) else None
        return ""
    return value if isinstance(value, str) else None


def _mbid(value: Any) -> str:
    """The mbid of an artist or album object; "" when absent, mistyped or not an object."""
    return (_text(value, "mbid") or "") if isinstance(value, dict) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool | float):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _scrobble(track: dict[str, Any]) -> tuple[Any, ...] | None:
    """(ts, artist, track, album, mbids...) of one dated entry; None when it is not valid."""
    ts = _int(track["date"].get("uts")) if isinstance(track.get("date"), dict) else None
    artist, album = track.get("artist"), track.get("album")
    name = _text(artist, "#text", "name")
    title, album_name = _text(track.get("name")), _text(album, "#text", "name")
    mbid = _text(track.get("mbid"))
    if ts is None or not name or title is None or album_name is None or mbid is None:
        return None
    return ts, name, title, album_name, _mbid(artist), mbid, _mbid(album)


def parse_page(payload: Any, now: float | None = None) -> Page:
    """Parse a `user.getRecentTracks` JSON body; raise _Transient when it is not one."""
    recent = payload.get("recenttracks") if isinstance(payload, dict) else None
    if not isinstance(recent, dict) or not isinstance(recent.get("@attr"), dict):
        raise _Transient("response without recenttracks")
    attr = recent["@attr"]
    tracks = recent.get("track", [])
    if isinstance(tracks, dict):  # a page with a single entry is an object, not a list
        tracks = [tracks]
    elif not isinstance(tracks, list):
        tracks = []
    columns: dict[str, list[Any]] = {name: [] for name in FRAME_COLUMNS}
    now_playing = invalid = 0
    for track in tracks:
        if not isinstance(track, dict):
            invalid += 1
            continue
        if _text(track.get("@attr"), "nowplaying") == "true":
            now_playing += 1
            continue
        fields = _scrobble(track)
        if fields is None:
            invalid += 1
            continue
        for column, value in zip(FRAME_COLUMNS, fields, strict=True):
            columns[column].append(value)
    ts = np.array(columns["ts"], dtype="float64")
    plausible = ~implausible_ts(ts, utc_now().timestamp() if now is None else now)
    invalid += int((~plausible).sum())
    frame = pd.DataFrame({"ts": ts[plausible].astype(np.int64)})
    capped = 0
    for column in FRAME_COLUMNS[1:]:
        values = pd.Series(np.array(columns[column], dtype=object)[plausible], dtype=object)
        limit = MAX_MBID_CHARS if column.endswith("mbid") else MAX_NAME_CHARS
        frame[column], cut = clean_names(values, limit)
        capped += cut
    frame = frame[frame["artist"] != ""].reset_index(drop=True)
    page = _int(attr.get("page")) or 1
    total_pages = _int(attr.get("totalPages")) or 0
    dated = len(tracks) - now_playing
    if dated == 0 and page < total_pages:
        # Last.fm occasionally serves an empty page inside the range; never take it as the end.
        raise _Transient(f"empty page {page} of {total_pages}")
    return Page(
        page=page,
        total_pages=total_pages,
        total=_int(attr.get("total")) or 0,
        frame=frame,
        listed=len(tracks),
        skipped_now_playing=now_playing,
        skipped_invalid=invalid + int(plausible.sum()) - len(frame),
        capped=capped,
    )


def check_api_url(url: str) -> None:
    """Raise LastfmError when `url` cannot be requested (bad syntax, port out of range)."""
    try:
        parsed = httpx.URL(url)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise LastfmError(f"LASTFM_API_URL is not a valid URL ({exc}): check it") from None
    if parsed.scheme not in ("http", "https"):
        raise LastfmError("LASTFM_API_URL must start with http:// or https://")
    if port is not None and not 0 < port < 65536:
        raise LastfmError(f"LASTFM_API_URL has port {port}, outside 1-65535: check it")


def _retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    return float(value) if value and value.isdigit() else None


class LastfmClient:
    """Reads recent tracks; retries transient failures; one rate limit for every request."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        api_key: str,
        rate: float,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.api_url = api_url
        self._api_key = api_key
        self.limiter = RateLimiter(rate)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        self._draw = draw

    async def recent_tracks_page(
        self, user: str, page: int, from_ts: int | None = None, to_ts: int | None = None
    ) -> Page:
        """One page (newest first) of `user`'s scrobbles with from_ts <= ts <= to_ts."""
        params = {
            "method": "user.getrecenttracks",
            "user": user,
            "api_key": self._api_key,
            "format": "json",
            "limit": str(PAGE_SIZE),
            "extended": "0",
            "page": str(page),
        }
        if from_ts is not None:
            params["from"] = str(from_ts)
        if to_ts is not None:
            params["to"] = str(to_ts)
        failures = 0
        while True:
            try:
                return await self._attempt(params, user)
            except _Transient as exc:
                failures += 1
                if failures >= self.retry.attempts:
                    raise LastfmUnavailable(
                        f"Last.fm unavailable after {failures} attempts ({exc})"
                    ) from None
                delay = self.retry.delay(failures, self._draw())
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, self.retry.max_delay))
                log.warning(
                    "Last.fm page %d attempt %d failed (%s); retrying in %.1f s",
                    page,
                    failures,
                    exc,
                    delay,
                )
                await self._sleep(delay)

    async def artist_method(self, method: str, artist: str) -> dict[str, Any] | None:
        """One try of `artist.getInfo` / `artist.getTopTags`; None when Last.fm has no such artist.

        No retries: metadata is optional, so a failure raises LastfmError at once.
        """
        params = {
            "method": method,
            "artist": artist,
            "autocorrect": "1",
            "api_key": self._api_key,
            "format": "json",
        }
        try:
            payload = await self._get_json(params, lambda code: _fatal_message(code, ""), (6,))
        except _Garbled as exc:  # an unreadable answer about this artist, not a Last.fm outage
            raise ValueError(f"Last.fm {method}: {exc}") from None
        except _Transient as exc:
            raise LastfmUnavailable(f"Last.fm {method} failed ({exc})") from None
        return payload if isinstance(payload, dict) else None

    async def _attempt(self, params: dict[str, str], user: str) -> Page:
        payload = await self._get_json(params, lambda code: _fatal_message(code, user))
        if payload is None:
            raise _Transient("invalid or truncated JSON")
        return parse_page(payload)

    async def _get_json(
        self,
        params: dict[str, str],
        fatal: Callable[[int], str | None],
        missing: tuple[int, ...] = (),
    ) -> Any:
        """The JSON body of one request; None for an error code in `missing` or unparsable JSON."""
        check_api_url(self.api_url)
        await self.limiter.wait()
        try:
            response = await self.http.get(self.api_url, params=params, timeout=self.timeout)
        except httpx.TimeoutException:
            raise _Transient("timeout") from None
        except httpx.UnsupportedProtocol:
            raise LastfmError("LASTFM_API_URL must start with http:// or https://") from None
        except (httpx.InvalidURL, OverflowError, ValueError, UnicodeError) as exc:
            raise LastfmError(
                f"LASTFM_API_URL is not a usable URL ({type(exc).__name__}): check it"
            ) from None
        except httpx.RequestError as exc:
            # The message of a request error may quote the URL, which carries the key.
            raise _Transient(f"connection error: {type(exc).__name__}") from None
        garbled = False
        try:
            payload = json.loads(response.content)
        # ValueError: malformed JSON, bad UTF-8, or a number beyond Python's digit limit;
        # RecursionError: nesting beyond the interpreter's limit. Either is a garbled answer.
        except (ValueError, RecursionError):
            payload, garbled = None, True
        if isinstance(payload, dict) and "error" in payload:
            code = _int(payload.get("error"))
            detail = str(payload.get("message", ""))[:200]
            if code in missing:
                return None
            message = fatal(code or 0)
            if message:
                raise LastfmFatalError(message)
            if code in RETRYABLE_CODES or code == RATE_LIMITED:
                raise _Transient(f"error {code}: {detail}", _retry_after(response))
            if _retryable_status(response.status_code):
                raise _Transient(f"HTTP {response.status_code}, error {code}")
            raise LastfmError(f"Last.fm error {code}: {detail}")
        if _retryable_status(response.status_code):
            raise _Transient(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code != 200:
            raise LastfmError(f"Last.fm answered HTTP {response.status_code}: check LASTFM_API_URL")
        if garbled:
            raise _Garbled("invalid or truncated JSON")
        return payload
