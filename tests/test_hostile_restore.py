"""Restore takes only what this project wrote: the schema the migrations make, intact."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import cli
from bot.db.session import upgrade_database_sync
from bot.services import backup


def _restore(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str]:
    code = cli.main(["restore", str(path)])
    return code, capsys.readouterr().err


def _scrobbles(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT COUNT(*) FROM scrobbles").fetchone()[0]


HOSTILE: dict[str, tuple[str, str]] = {
    "trigger dropping verdicts": (
        "CREATE TRIGGER eat AFTER INSERT ON feedback BEGIN DELETE FROM feedback; END",
        "trigger eat (on feedback) is not made by the migrations",
    ),
    "trigger rewriting predictions": (
        "CREATE TRIGGER rewrite AFTER INSERT ON candidates BEGIN "
        "UPDATE predictions SET probability = 1; END",
        "trigger rewrite (on candidates) is not made by the migrations",
    ),
    "candidates as a view": (
        "DROP TABLE candidates; CREATE VIEW candidates AS SELECT * FROM artists",
        "candidates is a view, the migrations make a table",
    ),
    "scrobbles with extra columns": (
        "ALTER TABLE scrobbles ADD COLUMN payload TEXT; ALTER TABLE scrobbles ADD COLUMN x INT",
        "table scrobbles has columns the migrations do not make: payload, x",
    ),
    "an extra index": (
        "CREATE INDEX sneaky ON scrobbles (track)",
        "index sneaky (on scrobbles) is not made by the migrations",
    ),
    "a dropped index": (
        "DROP INDEX ix_scrobbles_artist_id_ts",
        "no index ix_scrobbles_artist_id_ts",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_restore_refuses_a_schema_the_migrations_do_not_make(
    case: str, db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql, reason = HOSTILE[case]
    hostile = backup.backup_database(db_path, tmp_path / "hostile.sqlite3")
    with sqlite3.connect(hostile) as connection:
        connection.executescript(sql)
    with sqlite3.connect(db_path) as connection:
        connection.execute("DELETE FROM scrobbles WHERE ts % 3 = 0")
    before = _scrobbles(db_path)
    code, err = _restore(capsys, hostile)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert reason in err and "not a database this project wrote" in err, err
    assert _scrobbles(db_path) == before  # nothing changed
    assert not list(db_path.parent.glob(".restore-*"))  # no staged copy left behind


def test_the_reference_schema_is_what_a_fresh_database_has(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        found = backup.read_schema(connection)
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert backup.schema_difference(found, backup.reference_schema(revision)) is None
    assert ("table", "scrobbles") in found and ("index", "ix_scrobbles_artist_id_ts") in found


def test_restore_of_another_page_size_is_correct(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backup written with 8 KiB pages restores into the live 4 KiB WAL database."""
    other = tmp_path / "big-pages.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("PRAGMA page_size=8192")
        connection.execute("VACUUM")
    upgrade_database_sync(f"sqlite+aiosqlite:///{other}")
    with sqlite3.connect(other) as connection:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("INSERT INTO artists (id, key, name) VALUES (7, 'z', 'Z')")
        connection.executemany(
            "INSERT INTO scrobbles (ts, artist_id, artist_name, track, album) "
            "VALUES (?, 7, 'Z', ?, '')",
            [(1_650_000_000 + i, f"t{i}") for i in range(42)],
        )
        assert connection.execute("PRAGMA page_size").fetchone()[0] == 8192
    code, err = _restore(capsys, other)
    assert code == 0, err
    assert "readonly" not in err
    assert _scrobbles(db_path) == 42
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _damage_last_page(path: Path) -> None:
    with path.open("r+b") as handle:
        size = handle.seek(0, 2)
        handle.seek(size - 4096)
        handle.write(b"\xff" * 4096)


def _damage_root_pointer(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.seek(4096 + 8)  # page 2: the first b-tree page after the schema
        handle.write(b"\xde\xad\xbe\xef" * 8)


@pytest.mark.parametrize("damage", [_damage_last_page, _damage_root_pointer])
def test_restore_refuses_a_damaged_file(
    damage: Callable[[Path], None],
    db_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    damaged = backup.backup_database(db_path, tmp_path / "damaged.sqlite3")
    damage(damaged)
    before = _scrobbles(db_path)
    code, err = _restore(capsys, damaged)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "damaged" in err or "cannot be read" in err, err
    assert _scrobbles(db_path) == before


def test_rotation_removes_the_journal_of_a_killed_backup(tmp_path: Path) -> None:
    leftover = tmp_path / "breakout-20261201-030000.sqlite3.partial"
    journal = tmp_path / "breakout-20261201-030000.sqlite3.partial-journal"
    leftover.write_bytes(b"x")
    journal.write_bytes(b"x")
    backup.rotate(tmp_path, keep=7)
    assert not leftover.exists() and not journal.exists()
