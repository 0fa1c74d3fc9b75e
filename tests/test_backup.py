"""Backups: consistent online copies, rotation, checked restores, kill -9 mid-backup."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import cli
from bot.services import backup

ROOT = Path(__file__).resolve().parents[1]


def _count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT COUNT(*) FROM scrobbles").fetchone()[0]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_backup_and_restore_round_trip(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.sqlite3"
    code, out, _ = _run(capsys, "backup", str(target))
    assert code == 0 and str(target) in out
    assert backup.check_backup(target) in backup.known_revisions()
    with sqlite3.connect(db_path) as connection:
        connection.execute("DELETE FROM scrobbles")
    code, out, _ = _run(capsys, "restore", str(target))
    assert code == 0 and "restored" in out and "previous database was saved" in out
    assert _count(db_path) == 500
    assert list((db_path.parent / "backups").glob("pre-restore-*.sqlite3"))


@pytest.mark.slow
def test_backup_while_a_writer_writes_is_consistent(db_path: Path, tmp_path: Path) -> None:
    """The online backup is a snapshot: whole transactions only, never half of one."""
    stop = time.monotonic() + 3
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode=WAL')\n"
            "n = 0\n"
            "while time.monotonic() < float(sys.argv[2]):\n"
            "    c.execute('BEGIN IMMEDIATE')\n"
            "    rows = [(1_700_000_000 + n * 100 + i,) for i in range(100)]\n"
            "    c.executemany('INSERT INTO scrobbles (ts, artist_id, artist_name, track, album)"
            ' VALUES (?, 1, "A", "w", "")\', rows)\n'
            "    c.execute('COMMIT')\n"
            "    n += 1\n",
            str(db_path),
            str(stop),
        ]
    )
    copies = []
    try:
        time.sleep(0.3)
        for i in range(3):
            copies.append(backup.backup_database(db_path, tmp_path / f"b{i}.sqlite3"))
    finally:
        writer.wait(timeout=30)
    for copy in copies:
        backup.check_backup(copy)
        assert (_count(copy) - 500) % 100 == 0  # whole writer transactions only


def test_restore_refuses_what_is_not_a_known_database(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text_file = tmp_path / "notes.sqlite3"
    text_file.write_text("hello")
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    future = tmp_path / "future.sqlite3"
    backup.backup_database(db_path, future)
    with sqlite3.connect(future) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'fffffff'")
    for path, reason in [
        (text_file, "not a SQLite database"),
        (other, "not a Breakout Artists database"),
        (future, "unknown migration"),
        (tmp_path / "missing.sqlite3", "no such file"),
    ]:
        code, _, err = _run(capsys, "restore", str(path))
        assert code == 1 and reason in err and len(err.strip().splitlines()) == 1, err
    assert _count(db_path) == 500


def test_nightly_backups_rotate_the_newest_seven(db_path: Path) -> None:
    start = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    for day in range(10):
        backup.nightly_backup(db_path, keep=7, now=start + timedelta(days=day))
    names = sorted(p.name for p in backup.backup_dir(db_path).iterdir())
    assert names == [f"breakout-202611{d:02d}-030000.sqlite3" for d in range(4, 11)]
    assert backup.nightly_backup(db_path, keep=0) is None


def test_nightly_step_reports_failure_in_one_line(tmp_path: Path) -> None:
    from bot.config import load_settings

    settings = load_settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'none.sqlite3'}")
    assert asyncio.run(backup.nightly_step(settings)).startswith("backup failed: no database")


def test_export_feedback_writes_csv(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "export-feedback")
    assert code == 0
    assert out.splitlines() == [
        "artist,month,verdict,created_at,updated_at",
        "A,2026-10,confirm,2026-11-01 09:00:00,2026-11-01 09:00:00",
        "B,2026-10,dismiss,2026-11-01 09:00:00,2026-11-01 09:00:00",
    ]
    out_file = tmp_path / "verdicts.csv"
    assert _run(capsys, "export-feedback", "--out", str(out_file))[0] == 0
    assert out_file.read_text().count("\n") == 3


@pytest.mark.slow
def test_restore_after_kill_9_in_the_middle_of_a_backup(db_path: Path, tmp_path: Path) -> None:
    good = backup.backup_database(db_path, tmp_path / "good.sqlite3")
    with sqlite3.connect(db_path) as connection:  # make the database big enough to catch
        connection.execute("CREATE TABLE ballast (b BLOB)")
        connection.executemany("INSERT INTO ballast VALUES (?)", [(os.urandom(4096),)] * 20_000)
    target = tmp_path / "breakout-20261201-030000.sqlite3"
    partial = target.with_name(target.name + backup.PARTIAL_SUFFIX)
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "backup", str(target)], cwd=ROOT, env=env
        )
        while child.poll() is None and not (partial.exists() and partial.stat().st_size > 0):
            time.sleep(0.001)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if partial.exists() and not target.exists():
            break
        target.unlink(missing_ok=True)
    else:
        pytest.skip("could not catch the backup half-way on this machine")
    assert not target.exists()  # never a half-written file under the final name
    code = subprocess.run(
        [sys.executable, "-m", "bot.cli", "restore", str(partial)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert code.returncode == 1 and "Traceback" not in code.stderr
    restored = subprocess.run(
        [sys.executable, "-m", "bot.cli", "restore", str(good)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr
    assert _count(db_path) == 500
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    backup.rotate(tmp_path, keep=7)
    assert not partial.exists()
