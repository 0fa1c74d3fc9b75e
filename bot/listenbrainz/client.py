"""ListenBrainz `GET /1/user/{user}/listens` over the shared httpx client: parsing, retries,
the X-RateLimit headers."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd

from bot.errors import SourceError
from bot.lastfm.client import FRAME_COLUMNS, RateLimiter, RetryPolicy
from pipeline.plausible import MAX_MBID_CHARS, MAX_NAME_CHARS, clean_names, implausible_ts

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # the API's MAX_ITEMS_PER_GET
MAX_RATE_WAIT = 120.0  # longest X-RateLimit-Reset-In we sit out before asking again


class ListenBrainzError(SourceError):
    """ListenBrainz answered something we cannot use; the message is one line for the user."""


class ListenBrainzFatalError(ListenBrainzError):
    """Retrying cannot help: no such user, a rejected token."""


class ListenBrainzUnavailable(ListenBrainzError):
    """ListenBrainz kept failing after every retry; try again later."""


class _Transient(Exception):
    """One failed attempt that is worth retrying."""


BAD_TOKEN = (
    "ListenBrainz rejected LISTENBRAINZ_TOKEN: copy the user token from "
    "https://listenbrainz.org/settings/ or unset it (public listens need no token)"
)


@dataclass(frozen=True)
class ListensPage:
    """One parsed answer of the listens endpoint, newest first."""

    max_ts: int  # the exclusive bound it was asked for
    requested: int  # count asked for
    frame: pd.DataFrame  # FRAME_COLUMNS, one row per plausible listen
    listed: int  # listens in the answer, bad ones included
    skipped_invalid: int  # listened_at not an integer or implausible, or no artist name
    capped_names: int  # names cut at the length cap
    oldest_ts: int | None  # smallest integer listened_at listed (the paging position)
    user_oldest_ts: int | None  # the user's oldest listen according to the server

    @property
    def short(self) -> bool:
        """Fewer listens than asked for: the server had no more below max_ts."""
        return self.listed < self.requested


class HeaderBudget:
    """Waits out a rate-limit window the server says is used up (X-RateLimit-* headers)."""

    def __init__(self, max_wait: float = MAX_RATE_WAIT) -> None:
        self.max_wait = max_wait
        self._until = 0.0

    def update(self, headers: httpx.Headers) -> None:
        """Read the headers of an answer (a 429 included)."""
        reset_in = _number(headers.get("x-ratelimit-reset-in"))
        remaining = _number(headers.get("x-ratelimit-remaining"))
        if reset_in is not None and remaining is not None and remaining <= 0:
            wait = min(max(reset_in, 0.0), self.max_wait)
            self._until = max(self._until, time.monotonic() + wait)

    async def wait(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Return when the current window allows another request."""
        delay = self._until - time.monotonic()
        if delay > 0:
            log.info("ListenBrainz rate limit reached; waiting %.1f s", delay)
            await sleep(delay)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _first_str(value: Any) -> str:
    """The first string of a list (artist_mbids), or ""."""
    return value[0] if isinstance(value, list) and value and isinstance(value[0], str) else ""


def _listen_row(listen: Any) -> tuple[int | None, dict[str, str]]:
    """(listened_at when an integer, the row's text fields) of one listen object."""
    if not isinstance(listen, dict):
        return None, {}
    ts = listen.get("listened_at")
    # `true`, strings, floats and integers beyond any clock are bad rows.
    ts = ts if type(ts) is int and 0 <= ts < 2**53 else None
    meta = listen.get("track_metadata")
    meta = meta if isinstance(meta, dict) else {}
    info = meta.get("additional_info")
    info = info if isinstance(info, dict) else {}
    mapping = meta.get("mbid_mapping")
    mapping = mapping if isinstance(mapping, dict) else {}
    # Names as submitted: the mapping's canonical names can change later, which would make
    # a re-read listen look new.
    return ts, {
        "artist": _str(meta.get("artist_name")),
        "track": _str(meta.get("track_name")),
        "album": _str(meta.get("release_name")),
        "artist_mbid": _first_str(info.get("artist_mbids"))
        or _first_str(mapping.get("artist_mbids")),
        "track_mbid": _str(info.get("recording_mbid")) or _str(mapping.get("recording_mbid")),
        "album_mbid": _str(info.get("release_mbid")) or _str(mapping.get("release_mbid")),
    }


def parse_listens(payload: Any, max_ts: int, requested: int, now: float) -> ListensPage:
    """Parse a listens answer; raise _Transient when it is not one."""
    body = payload.get("payload") if isinstance(payload, dict) else None
    listens = body.get("listens") if isinstance(body, dict) else None
    if not isinstance(listens, list):
        raise _Transient("answer without payload.listens")
    stamps: list[int | None] = []
    texts: dict[str, list[str]] = {name: [] for name in FRAME_COLUMNS[1:]}
    for listen in listens:
        ts, fields = _listen_row(listen)
        stamps.append(ts)
        for name, values in texts.items():
            values.append(fields.get(name, ""))
    known = np.array([ts is not None for ts in stamps], dtype=bool)
    ts_array = np.array([ts or 0 for ts in stamps], dtype=np.int64)
    frame = pd.DataFrame(
        {"ts": ts_array, **{k: pd.Series(v, dtype=object) for k, v in texts.items()}}
    )
    capped = 0
    for name in FRAME_COLUMNS[1:]:
        limit = MAX_MBID_CHARS if name.endswith("mbid") else MAX_NAME_CHARS
        frame[name], count = clean_names(frame[name], limit)
        capped += count
    keep = known & ~implausible_ts(ts_array, now) & (frame["artist"] != "").to_numpy()
    oldest = int(ts_array[known].min()) if known.any() else None
    if listens and oldest is None:
        raise _Transient("a page of listens without a usable listened_at")
    user_oldest = body.get("oldest_listen_ts")
    return ListensPage(
        max_ts=max_ts,
        requested=requested,
        frame=frame[keep].reset_index(drop=True),
        listed=len(listens),
        skipped_invalid=int((~keep).sum()),
        capped_names=capped,
        oldest_ts=oldest,
        user_oldest_ts=user_oldest if type(user_oldest) is int and user_oldest > 0 else None,
    )


def _retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _error_text(payload: Any) -> str:
    detail = payload.get("error") if isinstance(payload, dict) else None
    return str(detail)[:200] if detail else ""


class ListenBrainzClient:
    """Reads listens; retries transient failures; obeys the rate limit headers and 429s."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        token: str | None,
        rate: float,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"Token {token}"} if token else {}
        self.limiter = RateLimiter(rate)
        self.retry = retry or RetryPolicy()
        self.budget = HeaderBudget()
        self.timeout = timeout
        self._sleep = sleep
        self._draw = draw
        self._token_checked = not token

    async def check_token(self) -> None:
        """Ask /1/validate-token once about LISTENBRAINZ_TOKEN; a rejected one is fatal."""
        if self._token_checked:
            return
        payload = await self._with_retries("token check", self._validate_token)
        if not (isinstance(payload, dict) and payload.get("valid") is True):
            raise ListenBrainzFatalError(BAD_TOKEN)
        self._token_checked = True

    async def listens_page(
        self, user: str, max_ts: int, now: float, count: int = PAGE_SIZE
    ) -> ListensPage:
        """The `count` newest listens of `user` with listened_at < max_ts."""
        params = {"max_ts": str(max_ts), "count": str(count)}
        path = f"/1/user/{quote(user, safe='')}/listens"

        async def attempt() -> ListensPage:
            payload = await self._get(path, params, user)
            page = parse_listens(payload, max_ts, count, now)
            oldest = page.user_oldest_ts
            if page.listed == 0 and oldest is not None and oldest < max_ts:
                # Never take an empty page above the user's oldest listen as the end.
                raise _Transient(f"no listens before {max_ts} but the oldest is at {oldest}")
            return page

        return await self._with_retries(f"listens before {max_ts}", attempt)

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        failures = 0
        while True:
            try:
                return await attempt()
            except _Transient as exc:
                failures += 1
                if failures >= self.retry.attempts:
                    raise ListenBrainzUnavailable(
                        f"ListenBrainz unavailable after {failures} attempts ({exc})"
                    ) from None
                # A 429 also set the header budget: the next attempt first sits out the window.
                delay = self.retry.delay(failures, self._draw())
                log.warning(
                    "ListenBrainz %s attempt %d failed (%s); retrying in %.1f s",
                    what,
                    failures,
                    exc,
                    delay,
                )
                await self._sleep(delay)

    async def _validate_token(self) -> Any:
        return await self._get("/1/validate-token", {}, None)

    async def _get(self, path: str, params: dict[str, str], user: str | None) -> Any:
        """One request; the decoded JSON of a 200, or the error it stands for."""
        await self.budget.wait(self._sleep)
        await self.limiter.wait()
        try:
            response = await self.http.get(
                self.api_url + path, params=params, headers=self._headers, timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise _Transient("timeout") from None
        except httpx.UnsupportedProtocol:
            raise ListenBrainzError(
                "LISTENBRAINZ_API_URL must start with http:// or https://"
            ) from None
        except httpx.RequestError as exc:
            raise _Transient(f"connection error: {type(exc).__name__}") from None
        self.budget.update(response.headers)
        try:
            payload = json.loads(response.content)
        # ValueError: malformed JSON, bad UTF-8, or a number beyond Python's digit limit;
        # RecursionError: nesting beyond the interpreter's limit. Either is a garbled answer.
        except (ValueError, RecursionError):
            payload = None
        status = response.status_code
        if status == 401:
            raise ListenBrainzFatalError(BAD_TOKEN)
        if status == 404 and user is not None and "user" in _error_text(payload).lower():
            raise ListenBrainzFatalError(
                f"ListenBrainz has no user {user!r} (HTTP 404): check LISTENBRAINZ_USERNAME"
            )
        if _retryable_status(status):
            raise _Transient(f"HTTP {status}")
        if status != 200:
            detail = _error_text(payload)
            raise ListenBrainzError(
                f"ListenBrainz answered HTTP {status}{f' ({detail})' if detail else ''}"
                ": check LISTENBRAINZ_API_URL"
            )
        if payload is None:
            raise _Transient("invalid or truncated JSON")
        return payload
