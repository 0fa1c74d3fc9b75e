"""A fake Last.fm API on 127.0.0.1: real HTTP, real paging, injectable faults.

Usage::

    with FakeLastfm(make_scrobbles(1000)) as fake:      # serves on an ephemeral port
        fake.inject("http_500", times=2, page=3)        # page 3 fails twice, then works
        ...LastfmClient(http, fake.url, fake.api_key, rate)...
        fake.requests[0].params["to"]                   # every request is logged

It answers `user.getRecentTracks` like Last.fm: newest first, `limit` per page (max 200),
inclusive `from`/`to`, the dateless now-playing row on every page, every number a string,
a single entry as an object instead of a list, `@attr` with page/perPage/totalPages/total,
and error bodies `{"error": N, "message": ...}`. `artist.getInfo` and `artist.getTopTags`
answer for artists given with `add_artist` (case-insensitive, like autocorrect) and error 6
for any other; both require `artist`. Each scrobble's JSON is rendered once when
it is added, so serving a page is a join of bytes and never the benchmark's bottleneck.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import LoopbackFake

ERROR_MESSAGES = {
    3: "Invalid Method - No method with that name in this package",
    6: "User not found",
    8: "Operation failed - Most likely the backend service failed. Please try again.",
    10: "Invalid API key - You must be granted a valid key by last.fm",
    11: "Service Offline - This service is temporarily offline. Try again later.",
    16: "There was a temporary error processing your request. Please try again",
    17: "Login: User required to be logged in",
    26: "Suspended API key - Access for your account has been suspended, please contact Last.fm",
    29: "Rate Limit Exceeded - Your IP has made too many requests in a short period",
}
ERROR_STATUS = {6: 404, 10: 403, 17: 403, 26: 403, 29: 429}
FAULT_KINDS = (
    "http_500",
    "error",
    "rate_limit",
    "truncated",
    "huge_number",
    "disconnect",
    "slow",
    "hold",
)


@dataclass(frozen=True)
class FakeScrobble:
    """One scrobble as the fake stores it; ts 0 or None renders as a bad or missing uts."""

    ts: int | None
    artist: str
    track: str
    album: str = ""
    artist_mbid: str = ""
    track_mbid: str = ""
    album_mbid: str = ""

    @property
    def key(self) -> tuple[int, str, str, str]:
        """What identifies the scrobble in our database."""
        return (self.ts or 0, self.artist, self.track, self.album)

    @property
    def valid(self) -> bool:
        """Whether a correct client stores it."""
        return bool(self.ts) and bool(self.artist)


def make_scrobbles(
    count: int, *, newest_ts: int = 1_700_000_000, spacing: int = 180, seed: int = 0
) -> list[FakeScrobble]:
    """`count` distinct scrobbles, `spacing` seconds apart, ending at `newest_ts`.

    Artists follow a heavy tail that drifts over time, like a real history: about 35
    distinct artists per 200 scrobbles and 3 % distinct overall.
    """
    rng = random.Random(seed)
    pool = max(300, count // 30)
    out = []
    for i in range(count):
        a = ((i // 3000) * 97 + int(rng.paretovariate(1.1) * 3)) % pool
        artist = f"Artist {a:05d}" if a % 7 else f"Ártist Ünïcode {a}"
        mbid = f"{i:08x}-0000-4000-8000-000000000000" if i % 3 == 0 else ""
        album = "" if i % 5 == 0 else f"Album {a}.{i % 13}"
        out.append(FakeScrobble(newest_ts - i * spacing, artist, f"Track {i}", album, "", mbid))
    return out


def _render(s: FakeScrobble) -> bytes:
    track: dict[str, object] = {
        "artist": {"mbid": s.artist_mbid, "#text": s.artist},
        "streamable": "0",
        "image": [
            {"size": size, "#text": f"https://lastfm.freetls.fastly.net/i/u/{size}/abc.png"}
            for size in ("small", "medium", "large", "extralarge")
        ],
        "mbid": s.track_mbid,
        "album": {"mbid": s.album_mbid, "#text": s.album},
        "name": s.track,
        "url": f"https://www.last.fm/music/{s.artist.replace(' ', '+')}/_/{s.track}",
    }
    if s.ts is not None:
        when = time.strftime("%d %b %Y, %H:%M", time.gmtime(s.ts))
        track["date"] = {"uts": str(s.ts), "#text": when}
    return json.dumps(track, ensure_ascii=False).encode()


@dataclass(frozen=True)
class FakeArtist:
    """An artist the fake's artist.* methods know."""

    name: str
    tags: tuple[str, ...] = ()
    listeners: int = 0
    summary: str = ""

    def info(self) -> dict[str, object]:
        """The `artist` object of artist.getInfo."""
        url = f"https://www.last.fm/music/{self.name.replace(' ', '+')}"
        read_more = f' <a href="{url}">Read more on Last.fm</a>'
        return {
            "name": self.name,
            "mbid": "",
            "url": url,
            "image": [{"#text": "", "size": "small"}],
            "streamable": "0",
            "ontour": "0",
            "stats": {"listeners": str(self.listeners), "playcount": str(self.listeners * 9)},
            "similar": {"artist": []},
            "tags": {
                "tag": [{"name": t, "url": f"https://www.last.fm/tag/{t}"} for t in self.tags]
            },
            "bio": {
                "links": {"link": {"#text": "", "rel": "original", "href": url + "/+wiki"}},
                "published": "01 Jan 2020, 00:00",
                "summary": self.summary + read_more,
                "content": self.summary,
            },
        }

    def info_body(self) -> bytes:
        """The whole artist.getInfo answer (a hostile artist may override it)."""
        return json.dumps({"artist": self.info()}).encode()

    def top_tags_body(self) -> bytes:
        """The whole artist.getTopTags answer (a hostile artist may override it)."""
        return json.dumps({"toptags": self.top_tags()}).encode()

    def top_tags(self) -> dict[str, object]:
        """The `toptags` object of artist.getTopTags (counts 100 down)."""
        tags = [
            {"count": 100 - 10 * i, "name": t, "url": f"https://www.last.fm/tag/{t}"}
            for i, t in enumerate(self.tags)
        ]
        return {"tag": tags, "@attr": {"artist": self.name}}


ARTIST_METHODS = ("artist.getinfo", "artist.gettoptags")


@dataclass
class Rule:
    """An injected fault: applies to `page` (None: any) for `times` requests (None: always)."""

    kind: str
    page: int | None
    times: int | None
    code: int = 8
    status: int | None = None
    seconds: float = 0.0


@dataclass
class RecordedRequest:
    """A request as the fake saw it."""

    params: dict[str, str]
    at: float  # time.monotonic() on arrival
    fault: str | None = None

    @property
    def page(self) -> int:
        """Requested page number (1 when absent)."""
        return int(self.params.get("page", "1"))


@dataclass
class _Catalog:
    """Scrobbles sorted newest first (ties in insertion order) with pre-rendered JSON."""

    keys: list[int] = field(default_factory=list)  # -ts, ascending
    items: list[FakeScrobble] = field(default_factory=list)
    rendered: list[bytes] = field(default_factory=list)

    def rebuild(self, pairs: list[tuple[FakeScrobble, bytes]]) -> None:
        pairs.sort(key=lambda pair: -(pair[0].ts or 0))  # stable: ties keep insertion order
        self.items = [p[0] for p in pairs]
        self.rendered = [p[1] for p in pairs]
        self.keys = [-(s.ts or 0) for s in self.items]

    def window(self, from_ts: int | None, to_ts: int | None) -> tuple[int, int]:
        lo = 0 if to_ts is None else bisect.bisect_left(self.keys, -to_ts)
        hi = len(self.keys) if from_ts is None else bisect.bisect_right(self.keys, -from_ts)
        return lo, max(lo, hi)


class FakeLastfm(LoopbackFake):
    """The fake service; a context manager that serves from a thread on an ephemeral port."""

    def __init__(
        self,
        scrobbles: Iterable[FakeScrobble] = (),
        *,
        username: str = "rj",
        api_key: str = "fake-api-key-0123456789",
        now_playing: bool = True,
    ) -> None:
        super().__init__(_Handler)
        self.username = username
        self.api_key = api_key
        self.now_playing = now_playing
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pairs: list[tuple[FakeScrobble, bytes]] = []
        self._artists: dict[str, FakeArtist] = {}
        self._catalog = _Catalog()
        self._rules: list[Rule] = []
        self._actions: dict[int, list[Callable[[FakeLastfm], None]]] = {}
        self._requests: list[RecordedRequest] = []
        self._np = _render(FakeScrobble(None, "Now Artist", "Playing Right Now", "Live"))
        self._np = self._np[:-1] + b',"@attr":{"nowplaying":"true"}}'
        self.add(scrobbles)

    @property
    def url(self) -> str:
        """Base URL to use as LASTFM_API_URL."""
        return self.root + "/2.0/"

    # -- data -------------------------------------------------------------------------------
    def add(self, scrobbles: Iterable[FakeScrobble]) -> None:
        """Add scrobbles (e.g. late ones with old timestamps), even while a sync runs."""
        pairs = [(s, _render(s)) for s in scrobbles]
        with self._lock:
            self._pairs.extend(pairs)
            self._catalog.rebuild(list(self._pairs))

    def add_artist(self, artist: FakeArtist) -> None:
        """Make artist.getInfo / artist.getTopTags know `artist`."""
        with self._lock:
            self._artists[artist.name.casefold()] = artist

    @property
    def scrobbles(self) -> list[FakeScrobble]:
        """Everything the fake holds, newest first."""
        with self._lock:
            return list(self._catalog.items)

    def expected_keys(self) -> set[tuple[int, str, str, str]]:
        """(ts, artist, track, album) of every scrobble a correct sync stores."""
        return {s.key for s in self.scrobbles if s.valid}

    # -- faults and hooks -------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        *,
        times: int | None = 1,
        page: int | None = None,
        code: int = 8,
        status: int | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Make the next `times` requests (of `page`, if given) fail.

        kinds: "http_500"; "error" (body {"error": code}, HTTP `status`, default 200 or the
        code's usual status); "rate_limit" (429 + error 29); "truncated" (half the JSON,
        consistent Content-Length); "disconnect" (connection closed mid-body); "slow" (answer
        after `seconds`); "hold" (answer only after release() or close()).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            if kind == "hold":
                self._release.clear()
            self._rules.append(Rule(kind, page, times, code, status, seconds))

    def clear_faults(self) -> None:
        """Drop every injected fault that has not fired yet."""
        with self._lock:
            self._rules.clear()

    def on_page(self, page: int, action: Callable[[FakeLastfm], None]) -> None:
        """Run `action(fake)` once, when `page` is first requested, before answering it."""
        with self._lock:
            self._actions.setdefault(page, []).append(action)

    def release(self) -> None:
        """Let held requests through (until the next "hold" is injected)."""
        self._release.set()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

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
    def _arrive(self, params: dict[str, str]) -> tuple[Rule | None, list]:
        """Log the request; pick the fault that applies and the page's one-off actions."""
        page = int(params.get("page", "1")) if params.get("page", "1").isdigit() else 1
        with self._changed:
            rule = next((r for r in self._rules if r.page in (None, page) and r.times != 0), None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
            record = RecordedRequest(params, time.monotonic(), rule.kind if rule else None)
            self._requests.append(record)
            actions = self._actions.pop(page, [])
            self._changed.notify_all()
        return rule, actions

    def _check(self, params: dict[str, str]) -> int | None:
        method = params.get("method", "").lower()
        if method not in ("user.getrecenttracks", *ARTIST_METHODS):
            return 3
        if params.get("api_key") != self.api_key:
            return 10
        if method in ARTIST_METHODS:
            if not params.get("artist"):
                return 6
            with self._lock:
                known = params["artist"].strip().casefold() in self._artists
            return None if known else 6
        if params.get("user", "").lower() != self.username.lower():
            return 6
        return None

    def _body(self, params: dict[str, str]) -> bytes:
        method = params.get("method", "").lower()
        if method not in ARTIST_METHODS:
            return self._page_body(params)
        with self._lock:
            artist = self._artists[params["artist"].strip().casefold()]
        return artist.info_body() if method == "artist.getinfo" else artist.top_tags_body()

    def _page_body(self, params: dict[str, str]) -> bytes:
        limit = min(200, max(1, int(params.get("limit", "50"))))
        page = max(1, int(params.get("page", "1")))
        from_ts = int(params["from"]) if "from" in params else None
        to_ts = int(params["to"]) if "to" in params else None
        with self._lock:
            lo, hi = self._catalog.window(from_ts, to_ts)
            start = lo + (page - 1) * limit
            chunk = self._catalog.rendered[start : min(hi, start + limit)]
        total = hi - lo
        items = ([self._np] if self.now_playing else []) + chunk
        tracks = items[0] if len(items) == 1 else b"[" + b",".join(items) + b"]"
        attr = {
            "user": self.username,
            "totalPages": str(-(-total // limit)),
            "page": str(page),
            "perPage": str(limit),
            "total": str(total),
        }
        return b'{"recenttracks":{"track":%s,"@attr":%s}}' % (tracks, json.dumps(attr).encode())


def error_body(code: int) -> bytes:
    """A Last.fm error body."""
    return json.dumps(
        {"error": code, "message": ERROR_MESSAGES.get(code, "?"), "links": []}
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLastfm/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        fake: FakeLastfm = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/2.0":
            self._send(404, b"<html><body>Not Found</body></html>", "text/html")
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        rule, actions = fake._arrive(params)
        for action in actions:
            action(fake)
        try:
            self._answer(fake, params, rule)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _answer(self, fake: FakeLastfm, params: dict[str, str], rule: Rule | None) -> None:
        kind = rule.kind if rule else None
        if kind == "slow" and rule is not None:
            fake._closed.wait(rule.seconds)
        elif kind == "hold":
            fake._release.wait()
        if fake._closed.is_set() and kind in ("slow", "hold"):
            self.close_connection = True
            return
        if kind == "http_500":
            return self._send(
                500, b"<html><body>500 Internal Server Error</body></html>", "text/html"
            )
        if kind == "rate_limit":
            return self._send(429, error_body(29))
        if kind == "error" and rule is not None:
            return self._send(
                rule.status or ERROR_STATUS.get(rule.code, 200), error_body(rule.code)
            )
        code = fake._check(params)
        if code is not None:
            status = 200 if code == 6 and params.get("method", "").lower() in ARTIST_METHODS else 0
            return self._send(status or ERROR_STATUS.get(code, 400), error_body(code))
        body = fake._body(params)
        if kind == "truncated":
            return self._send(200, body[: len(body) // 2])
        if kind == "huge_number":  # valid JSON that Python refuses to parse (digit limit)
            return self._send(200, b'{"error": 1' + b"0" * 5000 + b"}")
        if kind == "disconnect":
            self._send(200, body[: len(body) // 2], length=len(body))
            self.close_connection = True
            return None
        return self._send(200, body)

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
