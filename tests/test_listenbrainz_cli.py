"""`breakout sync` with LISTENS_SOURCE=listenbrainz: settings, summary, errors, kill -9."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.lastfm.client import RetryPolicy
from tests.fakes import FakeListenBrainz, make_listens

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


@pytest.fixture
def fake() -> Iterator[FakeListenBrainz]:
    with FakeListenBrainz(make_listens(2500, spacing=600, per_second=2)) as server:
        yield server


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, fake: FakeListenBrainz, db_url: str
) -> Iterator[dict[str, str]]:
    """Settings for the command; the root logger is restored after it reconfigured it."""
    env = {
        "DATABASE_URL": db_url,
        "LISTENS_SOURCE": "listenbrainz",
        "LISTENBRAINZ_USERNAME": "rj",
        "LISTENBRAINZ_TOKEN": fake.token,
        "LISTENBRAINZ_API_URL": fake.url,
        "LISTENBRAINZ_REQUESTS_PER_SECOND": "1000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("bot.commands.sync.RETRY_POLICY", FAST)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield env
    root.handlers[:] = handlers
    root.setLevel(level)


def stored_keys(db_url: str) -> set[tuple[int, str, str, str]]:
    path = db_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT ts, artist_name, track, album FROM scrobbles").fetchall()
    conn.close()
    assert len(rows) == len(set(rows))
    return set(rows)


def test_only_the_listenbrainz_username_is_required(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake: FakeListenBrainz,
) -> None:
    monkeypatch.delenv("LISTENBRAINZ_USERNAME")
    assert main(["sync"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: missing setting LISTENBRAINZ_USERNAME") and err.count("\n") == 1
    assert fake.requests == []
    monkeypatch.setenv("LISTENS_SOURCE", "napster")
    assert main(["sync"]) == 2
    assert "invalid setting LISTENS_SOURCE" in capsys.readouterr().err


def test_command_syncs_and_prints_a_summary(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], fake: FakeListenBrainz
) -> None:
    assert main(["sync"]) == 0  # no LASTFM_* setting at all
    out, err = capsys.readouterr()
    assert "backfill sync of rj on ListenBrainz complete: 3 pages" in out
    assert "2,500 new" in out and "ListenBrainz" in err  # the progress bar's label
    assert fake.token not in out + err
    assert stored_keys(cli_env["DATABASE_URL"]) == fake.expected_keys()
    assert main(["sync"]) == 0
    assert "incremental sync of rj on ListenBrainz complete" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["source"] == {"name": "listenbrainz", "username": "rj", "configured": True}
    assert status["last_sync"] is not None and status["backfill_done"] is True
    assert main(["status"]) == 0
    assert "source:         ListenBrainz (rj)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("LISTENBRAINZ_USERNAME", "nobody", "error: ListenBrainz has no user 'nobody' (HTTP 404)"),
        ("LISTENBRAINZ_TOKEN", "wrong-token", "error: ListenBrainz rejected LISTENBRAINZ_TOKEN"),
    ],
)
def test_unknown_user_and_bad_token_are_one_line(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(setting, value)
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message) and "Traceback" not in err
    assert "wrong-token" not in err


@pytest.mark.slow
def test_unavailable_keeps_progress_and_exits_1(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], fake: FakeListenBrainz
) -> None:
    fake.inject("http_500", times=None, after=1)
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "error: ListenBrainz unavailable" in err and "progress saved at page 2" in err
    fake.clear_faults()
    assert main(["sync"]) == 0
    assert "resumed at page 2" in capsys.readouterr().out
    assert stored_keys(cli_env["DATABASE_URL"]) == fake.expected_keys()


@pytest.mark.slow
def test_backfill_killed_mid_way_resumes_in_a_new_process(
    cli_env: dict[str, str], fake: FakeListenBrainz, tmp_path: Path
) -> None:
    env = {**os.environ, **cli_env}
    command = [sys.executable, "-m", "bot.cli", "sync"]
    fake.inject("hold", after=2)  # the third page never comes
    with subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        fake.wait_for_request(lambda r: r.number == 3, timeout=60)
        process.kill()  # SIGKILL: no cleanup code runs
        process.communicate()
    fake.release()
    fake.clear_faults()
    path = cli_env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        page, cursor = conn.execute("SELECT cursor_page, cursor_to FROM sync_state").fetchone()
    conn.close()
    assert page in (2, 3)  # page 2 may still have been in its transaction when killed
    stored = stored_keys(cli_env["DATABASE_URL"])
    expected = fake.expected_keys()
    # Everything at or above the cursor is stored; of the second below it, possibly a part.
    assert {k for k in expected if k[0] >= cursor} <= stored
    assert stored <= {k for k in expected if k[0] >= cursor - 1}
    seen = len(fake.listens_requests)
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"resumed at page {page}" in result.stdout
    assert int(fake.listens_requests[seen].params["max_ts"]) == cursor
    assert stored_keys(cli_env["DATABASE_URL"]) == expected
