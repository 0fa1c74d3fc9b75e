"""`breakout bot` at start: waits for an unreachable Telegram instead of crashing."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bot.commands.run_bot import wait_for_telegram
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.mark.slow
def test_sigterm_stops_the_wait_at_once_and_a_stale_heartbeat_is_removed(tmp_path: Path) -> None:
    heartbeat = tmp_path / "bot.heartbeat"
    heartbeat.touch()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'breakout.sqlite3'}",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_OWNER_ID": "42",
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{_free_port()}/bot",  # nobody listens
    }
    with subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "bot"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as bot:
        try:
            assert bot.stderr is not None
            for line in bot.stderr:  # the wait for Telegram has begun
                if "Telegram unreachable" in line:
                    break
            assert not heartbeat.exists()
            sent = time.monotonic()
            bot.send_signal(signal.SIGTERM)
            code = bot.wait(timeout=10)
            assert time.monotonic() - sent < 2.0
            assert code == 128 + signal.SIGTERM
        finally:
            if bot.poll() is None:
                bot.kill()
