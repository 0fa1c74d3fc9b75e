"""A fake ListenBrainz API on 127.0.0.1: real HTTP, real max_ts/min_ts paging, rate limits, faults.

Usage::

    with FakeListenBrainz(make_listens(5000, per_second=3)) as fake:
        fake.inject("http_500", times=2, after=2)   # the 3rd and 4th listens requests fail
        ...ListenBrainzClient(http, fake.url, None, rate)...
        fake.listens_requests[0].params["max_ts"]   # every request is logged

It answers `GET /1/user/{user}/listens` like ListenBrainz: `max_ts` and `min_ts` exclusive,
newest first; with `min_ts` the `count` oldest listens above it (still returned newest
first); `count` at most 1000 (larger is clamped, as the server does); listens sharing a
second keep one stable order; `payload` with count, user_id, listens, latest_listen_ts and
oldest_listen_ts; errors `{"code": N, "error": "..."}`; a 404 for an unknown user; every
answer carries X-RateLimit-Limit/-Remaining/-Reset-In/-Reset of a fixed window, and a 429
past the limit. `GET /1/validate-token` says whether the Authorization token is valid.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.timeutil import utc_now
from pipeline.plausible import MIN_PLAUSIBLE_TS
from tests.fakes.loopback import LoopbackFake

FAULT_KINDS = (
    "http_500",
    "error",
    "rate_limit",
    "truncated",
    "disconnect",
    "slow",
    "hold",
    "short",
    "empty",
)
MAX_COUNT = 1000
DEFAULT_COUNT = 25
_UNSET = object()


@dataclass(frozen=True)
class FakeListen:
    """One listen; `ts` orders it, `served` (when set) replaces listened_at in the JSON."""

    ts: int
    artist: str
    track: str
    album: str = ""
    artist_mbid: str = ""
    recording_mbid: str = ""
    release_mbid: str = ""
    served: Any = _UNSET  # e.g. True or "1700000000": a listened_at no client may trust

    @property
    def key(self) -> tuple[int, str, str, str]:
        """What identifies the listen in our database."""
        return (self.ts, self.artist, self.track, self.album)

    def valid(self, now: float) -> bool:
        """Whether a correct client stores it."""
        plausible = MIN_PLAUSIBLE_TS <= self.ts <= now + 86400
        return self.served is _UNSET and plausible and bool(self.artist)


def make_listens(
    count: int,
    *,
    newest_ts: int = 1_700_000_000,
    spacing: int = 180,
    per_second: int = 1,
    seed: int = 0,
) -> list[FakeListen]:
    """`count` distinct listens ending at `newest_ts`, `per_second` of them sharing a second."""
    rng = random.Random(seed)
    pool = max(300, count // 30)
    out = []
    for i in range(count):
        a = ((i // 3000) * 97 + int(rng.paretovariate(1.1) * 3)) % pool
        artist = f"Artist {a:05d}" if a % 7 else f"Ártist Ünïcode {a}"
        mbid = f"{i:08x}-0000-4000-8000-000000000000" if i % 3 == 0 else ""
        album = "" if i % 5 == 0 else f"Album {a}.{i % 13}"
        ts = newest_ts - (i // per_second) * spacing
        out.append(FakeListen(ts, artist, f"Track {i}", album, mbid, mbid, ""))
    return out


def render(listen: FakeListen, user: str) -> bytes:
    """The JSON of one listen as the listens endpoint serves it."""
    info: dict[str, object] = {
        "submission_client": "fake",
        "recording_msid": str(uuid.uuid5(uuid.NAMESPACE_URL, repr(listen.key))),
    }
    if listen.artist_mbid:
        info["artist_mbids"] = [listen.artist_mbid]
    if listen.recording_mbid:
        info["recording_mbid"] = listen.recording_mbid
    if listen.release_mbid:
        info["release_mbid"] = listen.release_mbid
    meta: dict[str, object] = {
        "artist_name": listen.artist,
        "track_name": listen.track,
        "additional_info": info,
        # The mapping's canonical names differ from the submitted ones on purpose.
        "mbid_mapping": {
            "artist_mbids": [listen.artist_mbid] if listen.artist_mbid else [],
            "artists": [{"artist_credit_name": listen.artist.upper(), "join_phrase": ""}],
            "recording_name": listen.track.upper(),
        },
    }
    if listen.album:
        meta["release_name"] = listen.album
    body = {
        "inserted_at": listen.ts + 5,
        "listened_at": listen.ts if listen.served is _UNSET else listen.served,
        "recording_msid": info["recording_msid"],
        "track_metadata": meta,
        "user_name": user,
    }
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass
class Rule:
    """An injected fault: once `after` listens requests were answered, the next `times`."""

    kind: str
    after: int
    times: int | None
    status: int = 500
    seconds: float = 0.0


@dataclass
class RecordedRequest:
    """A request as the fake saw it."""

    path: str
    params: dict[str, str]
    authorization: str | None
    at: float  # time.monotonic() on arrival
    number: int  # 1-based index among listens requests (0 for other endpoints)
    fault: str | None = None
    status: int = 200


@dataclass
class _Catalog:
    """Listens sorted newest first (ties in insertion order) with pre-rendered JSON."""

    keys: list[int] = field(default_factory=list)  # -ts, ascending
    items: list[FakeListen] = field(default_factory=list)
    rendered: list[bytes] = field(default_factory=list)
    newest: int = 0
    oldest: int = 0

    def rebuild(self, pairs: list[tuple[FakeListen, bytes]]) -> None:
        pairs.sort(key=lambda pair: -pair[0].ts)  # stable: ties keep insertion order
        self.items = [p[0] for p in pairs]
        self.rendered = [p[1] for p in pairs]
        self.keys = [-s.ts for s in self.items]
        self.newest = self.items[0].ts if self.items else 0
        self.oldest = self.items[-1].ts if self.items else 0

    def select(self, min_ts: int | None, max_ts: int | None, count: int) -> list[bytes]:
        """ListenBrainz's choice: newest `count` below max_ts, or oldest `count` above min_ts."""
        lo = 0 if max_ts is None else bisect.bisect_right(self.keys, -max_ts)
        hi = len(self.keys) if min_ts is None else bisect.bisect_left(self.keys, -min_ts)
        hi = max(lo, hi)
        if min_ts is None:
            return self.rendered[lo : min(hi, lo + count)]
        return self.rendered[max(lo, hi - count) : hi]


class FakeListenBrainz(LoopbackFake):
    """The fake service; a context manager that serves from a thread on an ephemeral port."""

    def __init__(
        self,
        listens: Iterable[FakeListen] = (),
        *,
        username: str = "rj",
        tokens: Iterable[str] = ("fake-user-token-0123456789",),
        rate_limit: int = 1_000_000,
        rate_window: float = 10.0,
    ) -> None:
        super().__init__(_Handler)
        self.username = username
        self.tokens = set(tokens)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pairs: list[tuple[FakeListen, bytes]] = []
        self._catalog = _Catalog()
        self._rules: list[Rule] = []
        self._actions: dict[int, list[Callable[[FakeListenBrainz], None]]] = {}
        self._requests: list[RecordedRequest] = []
        self._answered = 0  # listens requests answered (or failed) so far
        self._window_start = time.monotonic()
        self._window_used = 0
        self.add(listens)

    @property
    def url(self) -> str:
        """Root URL to use as LISTENBRAINZ_API_URL."""
        return self.root

    @property
    def token(self) -> str:
        """A token the fake accepts."""
        return next(iter(self.tokens))

    # -- data -------------------------------------------------------------------------------
    def add(self, listens: Iterable[FakeListen]) -> None:
        """Add listens (late ones with old timestamps too), even while a sync runs."""
        pairs = [(s, render(s, self.username)) for s in listens]
        with self._lock:
            self._pairs.extend(pairs)
            self._catalog.rebuild(list(self._pairs))

    @property
    def listens(self) -> list[FakeListen]:
        """Everything the fake holds, newest first."""
        with self._lock:
            return list(self._catalog.items)

    def expected_keys(self, now: float | None = None) -> set[tuple[int, str, str, str]]:
        """(ts, artist, track, album) of every listen a correct sync stores."""
        moment = utc_now().timestamp() if now is None else now
        return {s.key for s in self.listens if s.valid(moment)}

    # -- faults and hooks -------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        after: int | None = None,
        status: int = 500,
        seconds: float = 0.0,
    ) -> None:
        """Make `times` listens requests fail (None: all), starting after `after` answered ones.

        `after` defaults to the number answered so far. kinds: "http_500"; "error" (HTTP
        `status` with a JSON error body); "rate_limit" (429, Remaining 0, Reset-In `seconds`);
        "truncated" (half the JSON); "disconnect" (connection closed mid-body); "slow"
        (answer after `seconds`); "hold" (answer only after release() or close()); "short"
        (the server stops early: half the listens it should send); "empty" (no listens).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            if kind == "hold":
                self._release.clear()
            start = self._answered if after is None else after
            self._rules.append(Rule(kind, start, times, status, seconds))

    def clear_faults(self) -> None:
        """Drop every injected fault that has not fired yet."""
        with self._lock:
            self._rules.clear()

    def on_request(self, number: int, action: Callable[[FakeListenBrainz], None]) -> None:
        """Run `action(fake)` before answering the `number`-th (1-based) listens request."""
        with self._lock:
            self._actions.setdefault(number, []).append(action)

    def release(self) -> None:
        """Let held requests through (until the next "hold" is injected)."""
        self._release.set()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def listens_requests(self) -> list[RecordedRequest]:
        """The listens requests so far, in arrival order."""
        return [r for r in self.requests if r.number]

    def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10.0
    ) -> RecordedRequest:
        """Block until a request matching `predicate` has arrived; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for request in self._requests:
                    if predicate(request):
                        return request
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching request reached the fake")
                self._changed.wait(left)

    # -- serving ----------------------------------------------------------------------------
    def _arrive(
        self, path: str, params: dict[str, str], authorization: str | None, listens: bool
    ) -> tuple[RecordedRequest, Rule | None, list, dict[str, str]]:
        """Log the request, charge the rate window; pick its fault and one-off actions."""
        with self._changed:
            rule = None
            number = 0
            actions: list = []
            if listens:
                number = self._answered + 1
                self._answered = number
                rule = next((r for r in self._rules if r.after < number and r.times != 0), None)
                if rule is not None and rule.times is not None:
                    rule.times -= 1
                actions = self._actions.pop(number, [])
            record = RecordedRequest(
                path, params, authorization, time.monotonic(), number, rule.kind if rule else None
            )
            self._requests.append(record)
            headers = self._charge(record)
            self._changed.notify_all()
        return record, rule, actions, headers

    def _charge(self, record: RecordedRequest) -> dict[str, str]:
        """X-RateLimit headers of a fixed window; marks the record 429 past the limit."""
        now = time.monotonic()
        if now - self._window_start >= self.rate_window:
            self._window_start, self._window_used = now, 0
        self._window_used += 1
        if self._window_used > self.rate_limit:
            record.fault, record.status = "over_limit", 429
        left = self._window_start + self.rate_window - now
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - self._window_used)),
            "X-RateLimit-Reset-In": str(math.ceil(left)),
            "X-RateLimit-Reset": str(int(time.time() + left)),
        }

    def _listens_body(self, user: str, params: dict[str, str], rule: Rule | None) -> bytes:
        count = min(MAX_COUNT, int(params.get("count", DEFAULT_COUNT)))
        max_ts = int(params["max_ts"]) if "max_ts" in params else None
        min_ts = int(params["min_ts"]) if "min_ts" in params else None
        if count < 0 or (min_ts is not None and max_ts is not None and min_ts >= max_ts):
            raise ValueError("min_ts should be less than max_ts")
        with self._lock:
            chunk = self._catalog.select(min_ts, max_ts, count)
            newest, oldest = self._catalog.newest, self._catalog.oldest
        if rule is not None and rule.kind == "short":
            chunk = chunk[: len(chunk) // 2]
        elif rule is not None and rule.kind == "empty":
            chunk = []
        payload = {
            "count": len(chunk),
            "user_id": user,
            "latest_listen_ts": newest,
            "oldest_listen_ts": oldest,
        }
        head = json.dumps(payload).encode()[:-1]
        return b'{"payload":%s,"listens":[%s]}}' % (head, b",".join(chunk))


def error_body(code: int, message: str) -> bytes:
    """A ListenBrainz error body."""
    return json.dumps({"code": code, "error": message}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeListenBrainz/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        fake: FakeListenBrainz = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        is_listens = len(parts) == 4 and parts[:2] == ["1", "user"] and parts[3] == "listens"
        token = self.headers.get("Authorization")
        record, rule, actions, headers = fake._arrive(url.path, params, token, is_listens)
        for action in actions:
            action(fake)
        self._rate_headers = headers
        try:
            if record.status == 429:
                self._send(429, error_body(429, "Too many requests. Slow down."))
            elif url.path.rstrip("/") == "/1/validate-token":
                self._validate(fake, token)
            elif is_listens:
                self._listens(fake, unquote(parts[2]), params, rule)
            else:
                self._send(404, error_body(404, "Not found"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _validate(self, fake: FakeListenBrainz, header: str | None) -> None:
        token = header.split(" ", 1)[1] if header and header.lower().startswith("token ") else ""
        if not token:
            self._send(400, error_body(400, "You need to provide an Authorization token."))
        elif token in fake.tokens:
            body = {"code": 200, "message": "Token valid.", "valid": True, "user_name": "rj"}
            self._send(200, json.dumps(body).encode())
        else:
            body = {"code": 200, "message": "Token invalid.", "valid": False}
            self._send(200, json.dumps(body).encode())

    def _listens(
        self, fake: FakeListenBrainz, user: str, params: dict[str, str], rule: Rule | None
    ) -> None:
        kind = rule.kind if rule else None
        if kind == "slow" and rule is not None:
            fake._closed.wait(rule.seconds)
        elif kind == "hold":
            fake._release.wait()
        if fake._closed.is_set() and kind in ("slow", "hold"):
            self.close_connection = True
            return
        if kind == "http_500":
            return self._send(500, b"<html><body>Internal Server Error</body></html>", "text/html")
        if kind == "rate_limit" and rule is not None:
            self._rate_headers["X-RateLimit-Remaining"] = "0"
            self._rate_headers["X-RateLimit-Reset-In"] = str(math.ceil(rule.seconds))
            return self._send(429, error_body(429, "Too many requests. Slow down."))
        if kind == "error" and rule is not None:
            return self._send(rule.status, error_body(rule.status, "Something went wrong."))
        if user.lower() != fake.username.lower():
            return self._send(404, error_body(404, f"Cannot find user: {user}"))
        try:
            body = fake._listens_body(user, params, rule)
        except ValueError:
            return self._send(400, error_body(400, "Invalid max_ts, min_ts or count."))
        if kind == "truncated":
            return self._send(200, body[: len(body) // 2])
        if kind == "disconnect":
            self._send(200, body[: len(body) // 2], length=len(body))
            self.close_connection = True
            return None
        return self._send(200, body)

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in getattr(self, "_rate_headers", {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
