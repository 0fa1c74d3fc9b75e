"""`breakout import` end to end: real CLI, real SQLite file, one transaction per import."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bot import cli
from bot.db import scrobbles as scrobble_store
from bot.db.session import Database
from tests.conftest import shared_history
from tests.fixtures.make_fixtures import write_fixtures


@pytest.fixture
def fixtures(tmp_path: Path) -> dict[str, Path]:
    return write_fixtures(tmp_path / "histories")


@pytest.fixture
def db_file(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """Path of the SQLite file the CLI will use (not created yet)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    return Path(db_url.removeprefix("sqlite+aiosqlite:///"))


def _counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as connection:
        scrobbles = connection.execute("SELECT COUNT(*) FROM scrobbles").fetchone()[0]
        artists = connection.execute("SELECT COUNT(*) FROM artists").fetchone()[0]
    return scrobbles, artists


def _import(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["import", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_twice_adds_nothing_the_second_time(
    fixtures: dict[str, Path], db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _import(capsys, str(fixtures["ghan.csv"]))
    assert code == 0
    assert out.splitlines()[0] == (
        f"imported {fixtures['ghan.csv']} (ghan): 7 rows read, 6 new scrobbles, "
        "0 already present, 1 duplicate rows collapsed, 0 bad rows, 0 now-playing rows skipped"
    )
    assert _counts(db_file) == (6, 5)  # "Charli XCX" and "charli xcx" are one artist
    code, out, _ = _import(capsys, str(fixtures["ghan.csv"]))
    assert code == 0
    assert "0 new scrobbles, 6 already present" in out
    assert _counts(db_file) == (6, 5)


def test_same_scrobbles_from_another_format_are_already_present(
    fixtures: dict[str, Path], db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _import(capsys, str(fixtures["listenbrainz.zip"]))[0] == 0
    code, out, _ = _import(capsys, str(fixtures["lastfm-to-csv.csv"]))
    assert code == 0
    assert "(lastfm-to-csv): 8 rows read, 0 new scrobbles, 6 already present" in out
    assert "1 now-playing rows skipped" in out
    assert _counts(db_file) == (6, 5)


def test_summary_lists_first_bad_rows(
    fixtures: dict[str, Path], db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _import(capsys, str(fixtures["ghan-bad-rows.csv"]))
    assert code == 0
    lines = out.splitlines()
    assert "6 new scrobbles" in lines[0] and "6 bad rows" in lines[0]
    assert lines[1] == "first bad rows (of 6):"
    assert lines[2:4] == ["  line 3: unparseable date 'not-a-time'", "  line 5: empty artist"]
    assert _counts(db_file)[0] == 6


@pytest.mark.parametrize("name", ["truncated.json", "binary.bin", "empty.csv", "no-listens.zip"])
def test_unreadable_file_writes_nothing(
    fixtures: dict[str, Path], db_file: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert _import(capsys, str(fixtures["ghan.csv"]))[0] == 0
    code, out, err = _import(capsys, str(fixtures[name]))
    assert code == 1
    assert out == ""
    assert err.startswith(f"error: {fixtures[name]}: ") and err.count("\n") == 1
    assert _counts(db_file) == (6, 5)


def test_missing_file_is_one_line_error_and_no_database(
    tmp_path: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _import(capsys, str(tmp_path / "nope.csv"))
    assert code == 1
    assert err == f"error: {tmp_path / 'nope.csv'}: no such file\n"
    assert not db_file.exists()


def test_format_flag_forces_the_parser(
    fixtures: dict[str, Path], db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _import(capsys, str(fixtures["lastfm-to-csv.csv"]), "--format", "ghan")
    assert code == 1 and "not a ghan file: missing columns" in err
    code, out, _ = _import(capsys, str(fixtures["scrobbles.csv"]), "--format", "seed")
    assert code == 0 and "(seed): 6 rows read, 6 new scrobbles" in out


def test_database_failure_rolls_back_the_whole_import(
    tmp_path: Path,
    fixtures: dict[str, Path],
    db_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _import(capsys, str(fixtures["ghan.csv"]))[0] == 0
    with sqlite3.connect(db_file) as connection:  # a real SQLite failure on the last row
        connection.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON scrobbles WHEN NEW.artist_name = 'Boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    history = tmp_path / "more.csv"
    rows = [f"{1_700_000_000 + i},,New {i},,,,Track,\n" for i in range(5)]
    rows.append("1700000999,,Boom,,,,Track,\n")
    history.write_text("uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n")
    with history.open("a") as handle:
        handle.writelines(rows)
    # Earlier batches are committed before the failure; the import deletes them again.
    monkeypatch.setattr(scrobble_store, "IMPORT_BATCH_ROWS", 2)
    code, out, err = _import(capsys, str(history))
    assert code == 1 and out == ""
    assert err == "error: could not write to the database (boom); nothing imported\n"
    assert _counts(db_file) == (6, 5)


async def test_store_reports_progress_per_chunk_and_keeps_first_spelling(db: Database) -> None:
    frame = pd.DataFrame(
        {
            "ts": [5, 1, 3, 4, 2],
            "artist": ["charli xcx", "Charli XCX", "Sigur Rós", "Sigur Rós", "B"],
            "track": ["t5", "t1", "t3", "t4", "t2"],
            "album": ["", "", "", "", ""],
            "artist_mbid": ["", "", "", "f6f2326f-6b25-4170-b83d-e235ca3ba6ab", ""],
        }
    )
    chunks: list[int] = []
    async with db.sessions() as session, session.begin():
        new = await scrobble_store.store_scrobbles(
            session, frame, progress=chunks.append, chunk_rows=2
        )
    assert (new, chunks) == (5, [2, 2, 1])
    with sqlite3.connect(db.url.removeprefix("sqlite+aiosqlite:///")) as connection:
        artists = connection.execute("SELECT key, name, mbid FROM artists ORDER BY key").fetchall()
        order = connection.execute("SELECT ts FROM scrobbles ORDER BY id").fetchall()
    assert artists == [
        ("b", "B", None),
        ("charli xcx", "Charli XCX", None),  # the earliest scrobble names the artist
        ("sigur rós", "Sigur Rós", "f6f2326f-6b25-4170-b83d-e235ca3ba6ab"),
    ]
    assert [ts for (ts,) in order] == [1, 2, 3, 4, 5]


@pytest.mark.shared_data
def test_real_history_through_the_cli(db_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_history("pavelgar.csv")
    code, out, _ = _import(capsys, str(path))
    assert code == 0 and "25,078 rows read, 25,077 new scrobbles" in out
    assert _counts(db_file)[0] == 25_077
    code, out, _ = _import(capsys, str(path))
    assert "0 new scrobbles, 25,077 already present" in out
    assert _counts(db_file)[0] == 25_077
