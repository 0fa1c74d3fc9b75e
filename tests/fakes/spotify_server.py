"""A fake Spotify (accounts token endpoint + Web API search) on 127.0.0.1, strict like the real one.

POST /api/token needs HTTP Basic client credentials and grant_type=client_credentials in a form
body; it issues a bearer token that expires after `token_lifetime` seconds. GET /v1/search needs
that token, `q`, `type=artist` and a `limit` of 1..50, and matches names case-insensitively by
substring, like a search. Faults: "rate_limit" (429 + Retry-After), "http_500", "expire_tokens".
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class FakeSpotifyArtist:
    """An artist the search knows."""

    name: str
    genres: tuple[str, ...] = ()
    popularity: int = 0
    image: str = ""

    def item(self, index: int) -> dict[str, object]:
        """The artist object of a search answer."""
        artist_id = f"{index:022d}"
        images = [{"url": self.image, "height": 640, "width": 640}] if self.image else []
        return {
            "id": artist_id,
            "name": self.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist_id}",
            "genres": list(self.genres),
            "popularity": self.popularity,
            "images": images,
            "followers": {"href": None, "total": self.popularity * 1000},
            "external_urls": {"spotify": f"https://open.spotify.com/artist/{artist_id}"},
            "href": f"https://api.spotify.com/v1/artists/{artist_id}",
        }


@dataclass
class FakeSpotify:
    """The fake service; a context manager serving from a thread on an ephemeral port."""

    client_id: str = "fake-spotify-client"
    client_secret: str = "fake-spotify-secret-0123"
    token_lifetime: int = 3600
    artists: list[FakeSpotifyArtist] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._faults: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeSpotify:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        assert self._server is not None, "enter the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """Use as SPOTIFY_API_URL."""
        return f"{self.base}/v1"

    @property
    def token_url(self) -> str:
        """Use as SPOTIFY_TOKEN_URL."""
        return f"{self.base}/api/token"

    def inject(self, kind: str, times: int = 1) -> None:
        """Make the next `times` requests fail with `kind`."""
        if kind == "expire_tokens":
            with self._lock:
                self._tokens.clear()
            return
        if kind not in ("rate_limit", "http_500"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.extend([kind] * times)

    def _fault(self) -> str | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _issue(self, auth: str, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if auth != f"Basic {expected}":
            return 400, {"error": "invalid_client", "error_description": "Invalid client"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime}
        return 200, body

    def _search(self, auth: str, params: dict[str, str]) -> tuple[int, dict[str, object]]:
        token = auth.removeprefix("Bearer ")
        with self._lock:
            valid = auth.startswith("Bearer ") and self._tokens.get(token, 0) > time.monotonic()
        if not valid:
            return 401, {"error": {"status": 401, "message": "The access token expired"}}
        limit = params.get("limit", "20")
        if not params.get("q") or params.get("type") != "artist":
            return 400, {"error": {"status": 400, "message": "Bad search type field"}}
        if not limit.isdigit() or not 1 <= int(limit) <= 50:
            return 400, {"error": {"status": 400, "message": "Invalid limit"}}
        query = params["q"].casefold()
        found = [a.item(i) for i, a in enumerate(self.artists) if query in a.name.casefold()][
            : int(limit)
        ]
        return 200, {"artists": {"items": found, "limit": int(limit), "total": len(found)}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def _serve(self, method: str) -> None:
        fake: FakeSpotify = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(url.query or raw))
        with fake._lock:
            fake.requests.append((method, url.path, params))
        fault = fake._fault()
        auth = self.headers.get("Authorization", "")
        if fault == "rate_limit":
            return self._send(429, {"error": {"status": 429, "message": "API rate limit"}}, "3")
        if fault == "http_500":
            return self._send(500, {"error": {"status": 500, "message": "Server error"}})
        if method == "POST" and url.path == "/api/token":
            form_ok = self.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"
            )
            status, body = fake._issue(auth, params) if form_ok else (400, {"error": "form"})
        elif method == "GET" and url.path == "/v1/search":
            status, body = fake._search(auth, params)
        else:
            status, body = 404, {"error": {"status": 404, "message": "Service not found"}}
        return self._send(status, body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _send(self, status: int, body: dict[str, object], retry_after: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(data)
