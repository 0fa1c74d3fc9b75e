"""`breakout bot` at start: waits for an unreachable Telegram instead of crashing."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bot.commands.run_bot import wait_for_telegram
from bot.errors import ConfigError

TOKEN = "123456:ABC-secret_token_of_realistic_length"


class _GetMe(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = json.dumps({"ok": self.status == 200, "result": {"id": 1}}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_waits_with_backoff_until_telegram_answers(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/bot"
    delays: list[float] = []
    servers: list[HTTPServer] = []

    def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 3:  # Telegram comes back after the third failure
            server = HTTPServer(("127.0.0.1", port), _GetMe)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)

    caplog.set_level(logging.WARNING, logger="bot.commands.run_bot")
    try:
        attempts = wait_for_telegram(base_url, TOKEN, sleep=sleep)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert attempts == 4
    assert delays[0] <= 1.0 and delays[2] > delays[0]  # backing off
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("Telegram unreachable (ConnectError)" in m for m in lines)
    assert not any(r.exc_info for r in caplog.records)
    assert TOKEN not in " ".join(lines)


def test_a_rejected_token_is_a_config_error_at_once() -> None:
    class Rejecting(_GetMe):
        status = 401

    server = HTTPServer(("127.0.0.1", 0), Rejecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}/bot"
        with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
            wait_for_telegram(base_url, TOKEN, sleep=lambda _: pytest.fail("no retry"))
    finally:
        server.shutdown()
        server.server_close()
