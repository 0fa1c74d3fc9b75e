"""Every setting is checked at load: one line naming it, exit code 2, never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.db.session import upgrade_database_sync

ROOT = Path(__file__).resolve().parents[1]
HUGE = "99999999999999999999"

BAD_SETTINGS = [
    ("BREAKOUT_SYNC_INTERVAL_MINUTES", HUGE),
    ("BREAKOUT_PUSH_MAX", HUGE),
    ("BREAKOUT_PUSH_MAX", str(2**63)),
    ("BREAKOUT_BACKUP_KEEP", HUGE),
    ("BREAKOUT_MAX_ZIP_MEMBER_MB", HUGE),
    ("BREAKOUT_METADATA_MAX_AGE_DAYS", HUGE),
    ("TELEGRAM_OWNER_ID", HUGE),
    ("LASTFM_REQUESTS_PER_SECOND", "inf"),
    ("LASTFM_REQUESTS_PER_SECOND", "nan"),
    ("TELEGRAM_API_BASE_URL", "not a url"),
    ("TELEGRAM_API_BASE_URL", "ftp://example.org/bot"),
    ("LASTFM_API_URL", "http://"),
    ("LISTENBRAINZ_API_URL", "https://host:99999"),
    ("SPOTIFY_API_URL", "javascript:alert(1)"),
    ("LOG_LEVEL", "BOGUS"),
    ("DATABASE_URL", "sqlite+aiosqlite:///"),
    ("DATABASE_URL", "sqlite+aiosqlite:///:memory:"),
    ("DATABASE_URL", "sqlite+aiosqlite:////dev/null"),
    ("DATABASE_URL", "sqlite+aiosqlite:///{tmp}"),
    ("DATABASE_URL", "sqlite+aiosqlite:///{tmp}/afile/db.sqlite3"),
    ("BREAKOUT_API_TOKEN", " " * 16),
    ("BREAKOUT_API_TOKEN", "токентокентокентокен"),
    ("BREAKOUT_API_TOKEN", "abcdefgh ijklmnopq"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
@pytest.mark.parametrize("command", ["status", "sync", "serve", "bot"])
def test_a_bad_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    value: str,
    command: str,
) -> None:
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv(name, value.format(tmp=tmp_path))
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: invalid setting {name}: ") and err.count("\n") == 1, err


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config import load_settings

    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert load_settings().LOG_LEVEL == "DEBUG"


def test_candidates_limit_beyond_sqlite_integers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    upgrade_database_sync(url)
    for limit in (HUGE, str(2**63), "0"):
        assert main(["candidates", "--limit", limit]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --limit must be") and err.count("\n") == 1, err


@pytest.mark.parametrize("command", ["status", "candidates", "why x", "record", "export-feedback"])
def test_a_damaged_database_is_one_line_from_every_command(tmp_path: Path, command: str) -> None:
    path = tmp_path / "db.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_database_sync(url)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as handle:
        handle.write(b"\x00" * 100)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command.split()],
        cwd=ROOT,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "not a SQLite database" in done.stderr
