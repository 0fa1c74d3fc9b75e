"""Backups of the SQLite database: consistent online copies, rotation, checked restores."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.timeutil import utc_now
from pipeline.errors import UserError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

BACKUP_DIR_NAME = "backups"
BACKUP_PATTERN = "breakout-*.sqlite3"
PARTIAL_SUFFIX = ".partial"
STEP_PAGES = 1024  # pages copied per step: other connections may write in between
# Tables every database of this project has, whatever its migration.
REQUIRED_TABLES = {"alembic_version", "artists", "scrobbles", "feedback", "candidates"}
# (type, name) -> (table it belongs to, normalized CREATE statement, columns)
Schema = dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]


class BackupError(UserError):
    """A backup or restore could not be done; nothing was changed."""


def backup_dir(db_path: Path) -> Path:
    """Where the nightly backups of `db_path` live: a folder beside it."""
    return db_path.parent / BACKUP_DIR_NAME


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _connect_ro(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield connection
    finally:
        connection.close()


def backup_database(db_path: Path, target: Path) -> Path:
    """Copy the live database to `target` with SQLite's online backup; atomic at `target`.

    The copy goes to `target.partial` first and is renamed only once complete and synced,
    so a backup killed half-way never leaves a half-written file under the final name.
    """
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    _remove_partial(partial)
    try:
        with _connect_ro(db_path) as source:
            destination = sqlite3.connect(partial)
            try:
                source.backup(destination, pages=STEP_PAGES)
                destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                destination.close()
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        partial.replace(target)
        _fsync_dir(target.parent)
    except (sqlite3.Error, OSError) as exc:
        _remove_partial(partial)
        raise BackupError(f"backup to {target} failed: {exc}") from None
    return target


def _remove_partial(partial: Path) -> None:
    """A half-written copy and its rollback journal, left by a killed backup."""
    partial.unlink(missing_ok=True)
    partial.with_name(partial.name + "-journal").unlink(missing_ok=True)


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (and leftovers of killed ones); the deleted."""
    backups = sorted(directory.glob(BACKUP_PATTERN))
    doomed = backups[: max(0, len(backups) - keep)]
    # A killed backup leaves X.partial and, killed mid-transaction, X.partial-journal too.
    doomed += list(directory.glob(BACKUP_PATTERN + PARTIAL_SUFFIX + "*"))
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def nightly_backup(db_path: Path, keep: int, now: datetime | None = None) -> Path | None:
    """Tonight's backup beside the database, keeping the newest `keep` (0: no backups)."""
    if keep <= 0:
        return None
    stamp = (now or utc_now()).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    directory = backup_dir(db_path)
    path = backup_database(db_path, directory / f"breakout-{stamp}.sqlite3")
    rotate(directory, keep)
    return path


async def nightly_step(settings: Settings) -> str:
    """The nightly job's backup, off the event loop; a failure is logged, never raised."""
    try:
        path = await asyncio.to_thread(
            nightly_backup, settings.database_path, settings.BREAKOUT_BACKUP_KEEP
        )
    except BackupError as exc:
        log.warning("nightly backup failed: %s", exc)
        return f"backup failed: {exc}"
    return f"backup {path.name}" if path else "backups off"


def known_revisions() -> set[str]:
    """Every Alembic revision of this project."""
    from alembic.script import ScriptDirectory

    from bot.db.session import MIGRATIONS_DIR, alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite:///unused"))
    assert MIGRATIONS_DIR.is_dir()
    return {revision.revision for revision in script.walk_revisions()}


def _normal_sql(sql: str | None) -> str:
    """A CREATE statement without the spacing and quoting that do not change its meaning."""
    return " ".join((sql or "").replace('"', "").replace("`", "").lower().split())


def read_schema(connection: sqlite3.Connection) -> Schema:
    """Every table, index, trigger and view of a database, with the columns of each table."""
    schema: Schema = {}
    rows = connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE NOT ("
        "(type = 'index' AND name LIKE 'sqlite\\_autoindex\\_%' ESCAPE '\\') OR "
        "(type = 'table' AND name IN ('sqlite_sequence', 'sqlite_stat1', 'sqlite_stat4')))"
    ).fetchall()
    for kind, name, table, sql in rows:
        columns: tuple[str, ...] = ()
        if kind in {"table", "view"}:
            info = connection.execute("SELECT name FROM pragma_table_xinfo(?)", (name,))
            columns = tuple(row[0] for row in info)
        schema[(kind, name)] = (table, _normal_sql(sql), columns)
    return schema


@cache
def reference_schema(revision: str) -> Schema:
    """The schema the migrations produce at `revision` (a fresh database, migrated there)."""
    from alembic import command

    from bot.db.session import alembic_config

    with tempfile.TemporaryDirectory(prefix="breakout-schema-") as directory:
        path = Path(directory) / "reference.sqlite3"
        command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), revision)
        connection = sqlite3.connect(path)
        try:
            return read_schema(connection)
        finally:
            connection.close()


def schema_difference(found: Schema, expected: Schema) -> str | None:
    """The first way `found` differs from `expected`, in words; None when they are the same."""
    names = {name: kind for kind, name in expected}
    for kind, name in sorted(found.keys() - expected.keys()):
        if name in names:
            return f"{name} is a {kind}, the migrations make a {names[name]}"
        return f"{kind} {name} (on {found[(kind, name)][0]}) is not made by the migrations"
    for kind, name in sorted(expected.keys() - found.keys()):
        return f"no {kind} {name}"
    for key in sorted(expected):
        table, sql, columns = found[key]
        extra = [c for c in columns if c not in expected[key][2]]
        lacking = [c for c in expected[key][2] if c not in columns]
        if extra:
            return f"{key[0]} {key[1]} has columns the migrations do not make: {', '.join(extra)}"
        if lacking:
            return f"{key[0]} {key[1]} lacks columns {', '.join(lacking)}"
        if (table, sql) != expected[key][:2]:
            return f"{key[0]} {key[1]} is defined differently from the migrations"
    return None


def check_backup(path: Path, shown: Path | None = None) -> str:
    """The migration revision of a backup file; BackupError when it is not one of ours.

    Ours means: intact (integrity_check), at a known revision, and with exactly the schema
    the migrations make at that revision (no extra trigger, view, column or index).
    Messages name `shown` (the file the user gave) when `path` is a copy of it.
    """
    try:
        return _check(path)
    except BackupError as exc:
        if shown is None:
            raise
        raise BackupError(str(exc).replace(str(path), str(shown), 1)) from None


def _check(path: Path) -> str:
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    with path.open("rb") as handle:
        if handle.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path}: not a SQLite database (a damaged or partial backup?)")
    try:
        with _connect_ro(path) as connection:
            if connection.execute("PRAGMA integrity_check(1)").fetchone()[0] != "ok":
                raise BackupError(f"{path}: the database is damaged (integrity_check failed)")
            schema = read_schema(connection)
            missing = REQUIRED_TABLES - {name for _, name in schema}
            if missing:
                raise BackupError(
                    f"{path}: not a Breakout Artists database (no {', '.join(sorted(missing))})"
                )
            versions = [r[0] for r in connection.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: cannot be read as a database ({exc})") from None
    if len(versions) != 1 or versions[0] not in known_revisions():
        raise BackupError(f"{path}: unknown migration {versions}; restore needs a known one")
    difference = schema_difference(schema, reference_schema(versions[0]))
    if difference:
        raise BackupError(f"{path}: not a database this project wrote: {difference}")
    return versions[0]


def _page_size(path: Path) -> int | None:
    if not path.is_file():
        return None
    with _connect_ro(path) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


def _stage(source: Path, staged: Path, page_size: int | None) -> None:
    """Copy `source` to `staged` (one file, no WAL), with the live database's page size.

    A WAL database cannot take pages of another size through the backup API, so the copy
    is rewritten (VACUUM) at the live size first.
    """
    with _connect_ro(source) as origin:
        destination = sqlite3.connect(staged)
        try:
            origin.backup(destination)
            destination.execute("PRAGMA journal_mode=DELETE")
            current = destination.execute("PRAGMA page_size").fetchone()[0]
            if page_size is not None and current != page_size:
                destination.execute(f"PRAGMA page_size={int(page_size)}")
                destination.execute("VACUUM")
        finally:
            destination.close()


def restore_database(source: Path, db_path: Path, now: datetime | None = None) -> Path | None:
    """Replace the database's content with a checked backup; return the safety copy made.

    The backup is copied aside and checked there (so it cannot change between the check and
    the copy), the current database is backed up beside it (pre-restore), then overwritten
    page by page through SQLite's backup API, so open connections see either the old or the
    new database, never a mix.
    """
    check_backup(source)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=db_path.parent) as directory:
        staged = Path(directory) / "staged.sqlite3"
        try:
            _stage(source, staged, _page_size(db_path))
        except sqlite3.Error as exc:
            raise BackupError(f"{source}: cannot be copied ({exc}); nothing was changed") from None
        check_backup(staged, shown=source)
        safety = None
        if db_path.is_file():
            stamp = (now or utc_now()).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
            safety_path = backup_dir(db_path) / f"pre-restore-{stamp}.sqlite3"
            safety = backup_database(db_path, safety_path)
        try:
            with _connect_ro(staged) as origin:
                destination = sqlite3.connect(db_path, timeout=30)
                try:
                    origin.backup(destination)
                    destination.execute("PRAGMA journal_mode=WAL")
                finally:
                    destination.close()
        except sqlite3.Error as exc:
            raise BackupError(f"restore from {source} failed: {exc}; nothing was changed") from None
    return safety


def export_feedback(db_path: Path, out: TextIO) -> int:
    """Write the owner's verdicts as CSV (artist, month, verdict, created, updated); rows."""
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}")
    with _connect_ro(db_path) as connection:
        rows = connection.execute(
            "SELECT a.name, f.month, f.verdict, f.created_at, f.updated_at FROM feedback f "
            "JOIN artists a ON a.id = f.artist_id ORDER BY f.month, a.name"
        ).fetchall()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["artist", "month", "verdict", "created_at", "updated_at"])
    for name, month, verdict, created, updated in rows:
        writer.writerow([name, month, "confirm" if verdict else "dismiss", created, updated])
    return len(rows)
