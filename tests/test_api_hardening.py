"""The API's door: Host check, token before the body, body limit, 503 on a damaged database."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.api.guard import host_name, trusted_hosts
from bot.api.schemas import SEED_EXAMPLE
from tests.api_harness import serving
from tests.bot_harness import DB_NAME, copy_seeded, seeded
from tests.test_api import AUTH, api_settings

__all__ = ["seeded"]


@pytest.fixture(scope="module")
def api_dir(seeded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_seeded(seeded, tmp_path_factory.mktemp("guard") / "data")


@pytest.fixture(scope="module")
def with_token(api_dir: Path) -> Iterator[str]:
    with serving(api_settings(api_dir)) as url:
        yield url


@pytest.fixture(scope="module")
def tokenless(api_dir: Path) -> Iterator[str]:
    with serving(api_settings(api_dir, BREAKOUT_API_TOKEN=None)) as url:
        yield url


def _raw(url: str, head: str, timeout: float = 5.0) -> str:
    """Send only a request head (no body) and return the status line, or '' on a timeout."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode())
        try:
            return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]
        except TimeoutError:
            return ""


def test_a_stranger_is_refused_before_the_body_is_read(with_token: str) -> None:
    """A 200 MB body is announced but never sent: the 401 comes at once, not after it."""
    started = time.monotonic()
    head = "POST /predict HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 200000000\n"
    status = _raw(with_token, head + "Content-Type: application/json\n\n")
    assert status.startswith("HTTP/1.1 401"), status
    assert time.monotonic() - started < 3


def test_an_announced_body_over_the_limit_is_413_unread(with_token: str) -> None:
    head = (
        "POST /predict HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 3000000\n"
        f"Authorization: {AUTH['Authorization']}\nContent-Type: application/json\n\n"
    )
    assert _raw(with_token, head).startswith("HTTP/1.1 413")


def test_a_chunked_body_over_the_limit_is_413(with_token: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"records": ['
        for _ in range(40):
            yield b" " * 65536  # 2.5 MB of whitespace, no Content-Length

    response = httpx.post(f"{with_token}/predict", content=chunks(), headers=AUTH, timeout=30)
    assert response.status_code == 413 and "2 MiB" in response.json()["detail"]


def test_a_body_under_the_limit_still_works(with_token: str) -> None:
    body = {"records": [SEED_EXAMPLE] * 500}
    response = httpx.post(f"{with_token}/predict", json=body, headers=AUTH, timeout=60)
    assert response.status_code == 200 and len(response.json()["predictions"]) == 500


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9696", "127.0.0.1.nip.io", ""])
def test_tokenless_loopback_refuses_foreign_hosts(tokenless: str, host: str) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host."""
    for path in ("/candidates", "/health"):
        response = httpx.get(f"{tokenless}{path}", headers={"Host": host})
        assert response.status_code == 421, (path, host, response.text)
    vote = {"candidate_id": 1, "verdict": "confirm"}
    posted = httpx.post(f"{tokenless}/feedback", json=vote, headers={"Host": host})
    assert posted.status_code == 421


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST:9696"])
def test_tokenless_loopback_serves_loopback_names(tokenless: str, host: str) -> None:
    assert httpx.get(f"{tokenless}/candidates", headers={"Host": host}).status_code == 200


def test_with_a_token_any_host_may_ask(with_token: str) -> None:
    headers = {**AUTH, "Host": "breakout.example.org"}
    assert httpx.get(f"{with_token}/candidates", headers=headers).status_code == 200


def test_host_names_parse() -> None:
    assert host_name("[::1]:9696") == "[::1]" and host_name("Example.ORG:80") == "example.org"
    assert "[::1]" in trusted_hosts(None) and "::1" not in trusted_hosts(None)
    assert "192.168.1.5" in trusted_hosts("192.168.1.5")
    assert "[fe80::1]" in trusted_hosts("fe80::1")


def test_candidate_id_must_be_an_integer(with_token: str) -> None:
    for value in (True, "1", 1.0):
        vote = {"candidate_id": value, "verdict": "confirm"}
        response = httpx.post(f"{with_token}/feedback", json=vote, headers=AUTH)
        assert response.status_code == 422, value
        assert "candidate_id" in response.json()["detail"][0]["msg"]


def test_health_shows_no_paths(api_dir: Path, seeded: Path, tmp_path: Path) -> None:
    data_dir = copy_seeded(seeded, tmp_path / "data")
    for model_file in (data_dir / "models").iterdir():
        if model_file.is_file():
            model_file.write_bytes(b"\x00garbage")
    with serving(api_settings(data_dir)) as url:
        health = httpx.get(f"{url}/health")
    assert health.status_code == 200 and health.json()["model"]["present"] is False
    assert str(tmp_path) not in health.text and "/models" not in health.text


def _damage_table(path: Path, table: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()[0]
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def test_a_damaged_database_is_a_clean_503(seeded: Path, tmp_path: Path) -> None:
    data_dir = copy_seeded(seeded, tmp_path / "data")
    _damage_table(data_dir / DB_NAME, "candidates")
    with serving(api_settings(data_dir)) as url:
        response = httpx.get(f"{url}/candidates", headers=AUTH)
        assert response.status_code == 503, response.text
        assert response.json()["detail"] == "database unavailable: the database file is damaged"
        with (data_dir / DB_NAME).open("r+b") as handle:
            handle.write(b"\x00" * 100)  # the header zeroed while serving
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
