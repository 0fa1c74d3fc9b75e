"""Schema, migrations and the scrobble upsert on a real SQLite file."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bot.db.scrobbles import history_stats, load_scrobbles, store_scrobbles
from bot.db.session import Database, make_sync_engine
from pipeline.normalize import artist_key

ROOT = Path(__file__).resolve().parents[1]


def _frame(rows: list[tuple[int, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "artist", "track", "album"])


def test_artist_key_folds_case_width_and_spaces() -> None:
    assert artist_key("Charli XCX") == artist_key("charli  xcx ") == "charli xcx"
    assert artist_key("ＢＴＳ") == "bts"


async def test_migrated_database_is_wal(db: Database) -> None:
    async with db.sessions() as session:
        mode = (await session.execute(text("PRAGMA journal_mode"))).scalar_one()
        version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert mode == "wal"
    assert version is not None


async def test_upsert_is_idempotent_and_merges_artist_spellings(db: Database) -> None:
    rows = [
        (1_600_000_000, "Charli XCX", "Vroom Vroom", "Vroom Vroom EP"),
        (1_600_000_200, "Charli xcx", "Boys", ""),
        (1_600_000_400, "Simon & Garfunkel", "America", "Bookends"),
    ]
    async with db.sessions() as session, session.begin():
        assert await store_scrobbles(session, _frame(rows)) == 3
    async with db.sessions() as session, session.begin():
        assert await store_scrobbles(session, _frame([*rows, (1600000600, "X", "Y", "")])) == 1
    async with db.sessions() as session:
        stats = await history_stats(session)
    assert (stats.scrobbles, stats.artists) == (4, 3)
    assert stats.first_ts == 1_600_000_000


async def test_failed_transaction_writes_nothing(db: Database) -> None:
    rows = [(1_600_000_000, "A", "t", "")]
    try:
        async with db.sessions() as session, session.begin():
            await store_scrobbles(session, _frame(rows))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with db.sessions() as session:
        assert (await history_stats(session)).scrobbles == 0


async def test_load_scrobbles_for_pipeline(db: Database) -> None:
    rows = [(1_600_000_400, "Beta", "t2", ""), (1_600_000_000, "alpha", "t1", "a")]
    async with db.sessions() as session, session.begin():
        await store_scrobbles(session, _frame(rows))
    engine = make_sync_engine(db.url)
    with engine.connect() as connection:
        frame = load_scrobbles(connection)
    engine.dispose()
    assert frame["ts"].tolist() == [1_600_000_000, 1_600_000_400]
    assert frame["artist_key"].tolist() == ["alpha", "beta"]


async def test_migrations_match_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.db.models import Base

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_database_all_migrate(tmp_path: Path) -> None:
    """The first-start race: migrations are serialized, the later processes wait and go on."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'breakout.sqlite3'}"
    code = (
        "import sys, time; from bot.db.session import upgrade_database_sync;"
        "t = float(sys.argv[2]); time.sleep(max(0.0, t - time.time()));"
        "upgrade_database_sync(sys.argv[1])"
    )
    start = time.time() + 4.0  # every child has imported Alembic by then
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, str(start)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], errors
    with sqlite3.connect(tmp_path / "fresh" / "breakout.sqlite3") as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert len(versions) == 1
