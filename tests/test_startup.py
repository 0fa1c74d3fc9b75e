"""Start-up of the reading commands: no migration machinery, no numpy/pandas on their path."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.db.session import (
    alembic_config,
    database_file,
    migration_heads,
    schema_is_current,
    upgrade_database_sync,
)

ROOT = Path(__file__).resolve().parents[1]
# Runs a command in a fresh interpreter and prints which heavy packages it imported.
PROBE = """
import io, json, sys, contextlib
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
HEAVY = {"alembic", "numpy", "pandas", "sklearn", "xgboost", "scipy", "matplotlib"}
heavy = sorted({m.split('.')[0] for m in sys.modules} & HEAVY)
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_migration_heads_read_from_the_files_match_alembic() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite:///unused"))
    assert migration_heads() == frozenset(script.get_heads())


def test_schema_is_current_only_at_the_head(db_url: str) -> None:
    assert not schema_is_current(db_url)  # no file yet
    upgrade_database_sync(db_url)
    assert schema_is_current(db_url)
    path = database_file(db_url)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert not schema_is_current(db_url)
    path.write_bytes(b"not a database at all, just text" * 100)
    assert not schema_is_current(db_url)  # Alembic decides (and reports) on anything unusual


def _probe(db_url: str, *argv: str) -> dict:
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_reading_commands_import_nothing_heavy(db_url: str) -> None:
    from tests.test_record import PREDICTED, write_predictions

    upgrade_database_sync(db_url)
    assert _probe(db_url, "candidates") == {"code": 0, "heavy": []}
    write_predictions(db_url, PREDICTED)  # as a rebuild stores them, with the live track record
    with sqlite3.connect(database_file(db_url)) as conn:
        conn.execute(
            "INSERT INTO scrobbles (artist_id, artist_name, track, album, ts) "
            "SELECT id, name, 't', 'a', 1700000000 FROM artists WHERE name = 'Hit'"
        )
    # `record` shows the stored record (no backtest, no pandas), `why` counts months in Python
    for argv in (["record"], ["status"], ["why", "Hit"], ["why", "Open"]):
        assert _probe(db_url, *argv) == {"code": 0, "heavy": []}, argv
