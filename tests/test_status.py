"""`breakout status [--json]` and `breakout db upgrade` through the real CLI and a real file."""

import json
import re
from pathlib import Path

import pytest

from bot.cli import main

GHAN = (
    "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"
    '1600000000,"13 Sep 2020, 12:26",Charli XCX,,Pop 2,,Track 10,\n'
    '1600000300,"13 Sep 2020, 12:31",Charli xcx,,Pop 2,,Femmebot,\n'
    '1700000000,"14 Nov 2023, 22:13",Simon & Garfunkel,,Bookends,,America,\n'
)


@pytest.fixture
def env_db(monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    monkeypatch.setenv("DATABASE_URL", db_url)
    return db_url


def test_db_upgrade_creates_the_database(
    env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "db" / "breakout.sqlite3").exists()
    assert "up to date" in capsys.readouterr().out


def test_status_json_reports_the_stored_history(
    env_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    history.write_text(GHAN, encoding="utf-8")
    assert main(["import", str(history)]) == 0
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["scrobbles"] == 3
    assert status["artists"] == 2  # "Charli XCX" and "Charli xcx" are one artist
    assert status["first_scrobble"] == "2020-09-13T12:26:40Z"
    assert status["last_scrobble"] == "2023-11-14T22:13:20Z"
    assert status["last_sync"] is None


def test_status_text_on_an_empty_database(env_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "scrobbles:      0" in out
    assert "last sync:      never" in out


def test_status_text_after_a_rebuild_reads_as_words(
    env_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    history.write_text(GHAN, encoding="utf-8")
    monkeypatch.setenv("BREAKOUT_MODEL_DIR", str(tmp_path / "models"))
    assert main(["import", str(history)]) == 0
    assert main(["rebuild"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    model = next(line for line in lines if line.startswith("model:"))
    assert re.fullmatch(r"model: {10}[a-z][a-z ]* \(rebuilt [0-9-]+T[0-9:]+Z\)", model), model
    # the track record as one sentence, never a data structure
    assert lines[-1] and not lines[-1].startswith(("{", "[")) and "'source'" not in lines[-1]
