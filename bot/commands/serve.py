"""`breakout serve`: the HTTP API on uvicorn (127.0.0.1:9696 unless told otherwise)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket

from bot.config import load_settings
from bot.errors import ConfigError
from bot.logs import setup_logging
from pipeline.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9696
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; any other name or address is exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a (long enough) token."""
    if is_loopback(host):
        return
    if not token:
        raise ConfigError(
            f"refusing to serve on {host} without BREAKOUT_API_TOKEN: set a token "
            f"(e.g. `openssl rand -hex 32`) or serve on {DEFAULT_HOST}"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"BREAKOUT_API_TOKEN is too short to expose on {host}: use at least "
            f"{MIN_TOKEN_CHARS} characters"
        )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; a clear error when the address is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host.strip("[]"), port), family=family)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Connections inherit this. asyncio sets it only on sockets made with IPPROTO_TCP, which
    # create_server's are not: without it a reply written in two parts (head, then body)
    # waits for the client's delayed ACK, 40 ms on every request after a connection's first.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate, then serve the API until stopped (Ctrl-C or SIGTERM)."""
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1..65535, not {args.port}")
    settings = load_settings()
    token = settings.BREAKOUT_API_TOKEN.get_secret_value() if settings.BREAKOUT_API_TOKEN else None
    check_exposure(args.host, token)
    setup_logging(settings.LOG_LEVEL, settings.secrets)
    import uvicorn  # FastAPI and uvicorn load only for this command

    from bot.api.app import create_app
    from bot.db.session import upgrade_database_sync

    upgrade_database_sync(settings.DATABASE_URL)
    sock = bind(args.host, args.port)
    config = uvicorn.Config(
        create_app(settings, served_on=args.host),
        log_config=None,
        log_level=settings.LOG_LEVEL.lower(),
    )
    where = f"[{args.host}]" if ":" in args.host else args.host
    log.info("serving the API on http://%s:%d (docs at /docs)", where, sock.getsockname()[1])
    uvicorn.Server(config).run(sockets=[sock])
    return 0
