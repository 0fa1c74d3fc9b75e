"""The API's door, in front of FastAPI: Host check, bearer token, body limit.

A pure ASGI middleware, so a stranger's request is refused before any byte of its body is
read or parsed (a FastAPI dependency runs only after the body has been parsed).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

MAX_BODY_BYTES = 2 * 1024 * 1024
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
PUBLIC_PREFIX = "/docs-assets/"
TOKEN_HELP = "missing or wrong bearer token (Authorization: Bearer $BREAKOUT_API_TOKEN)"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body passed MAX_BODY_BYTES."""


def host_name(header: str) -> str:
    """'Example.org:9696' -> 'example.org'; '[::1]:9696' -> '[::1]'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def trusted_hosts(served_on: str | None) -> frozenset[str]:
    """Loopback names plus the address the server was told to listen on."""
    if not served_on:
        return LOOPBACK_HOSTS
    name = served_on.lower()
    return LOOPBACK_HOSTS | {f"[{name.strip('[]')}]" if ":" in name else name}


class Guard:
    """Refuse untrusted Hosts (no token: DNS rebinding), wrong tokens, and bodies over 2 MB."""

    def __init__(
        self,
        app: App,
        token: str | None,
        served_on: str | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.hosts = None if token else trusted_hosts(served_on)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        declared = headers.get("content-length", b"0").strip()
        if not declared.isdigit():
            declared = b"0"
        if int(declared) > self.max_body:
            await _answer(send, 413, self._too_large())
            return
        try:
            body = await self._read_body(receive)
        except BodyTooLarge:
            await _answer(send, 413, self._too_large())
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(
        self, scope: Scope, headers: dict[str, bytes]
    ) -> tuple[int, str, dict[str, str]] | None:
        if self.hosts is not None:
            host = host_name(headers.get("host", b"").decode("latin-1"))
            if host not in self.hosts:
                return 421, f"untrusted Host header {host[:64]!r}: use http://127.0.0.1", {}
        path = scope.get("path", "")
        if self.token is None or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX):
            return None
        scheme, _, given = headers.get("authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode(), self.token
        ):
            return None
        return 401, TOKEN_HELP, {"www-authenticate": "Bearer"}

    def _too_large(self) -> str:
        return f"request body larger than {self.max_body // (1024 * 1024)} MiB"

    async def _read_body(self, receive: Receive) -> list[Message]:
        """Every body message, up to the limit (chunked bodies have no Content-Length)."""
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body:
                raise BodyTooLarge
            if not message.get("more_body", False):
                return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive() that hands out the buffered body, then the live channel (disconnects)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _answer(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
