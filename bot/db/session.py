"""Engine, session factory and migrations of the SQLite database."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import random
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pipeline.errors import UserError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
BUSY_TIMEOUT_MS = 10_000
RETRY_BUSY_MS = 25  # per attempt of write_with_retry, which retries itself
# write_with_retry's deadline when a person waits: Telegram shows a spinner until the answer
# and drops answers to queries older than ~15 s.
ANSWER_DEADLINE_SECONDS = 8.0
T = TypeVar("T")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
DISK_ERRNOS = (*_DISK_FULL, errno.EROFS, errno.EACCES)
# What SQLite and the OS say, and the one line the user reads instead.
_PROBLEMS = [
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("disk is full", "the disk is full"),
    ("disk full", "the disk is full"),
    ("no space left", "the disk is full"),
    ("unable to open", "the database file cannot be opened"),
    ("locked", "the database is busy (another process is writing)"),
    ("busy", "the database is busy (another process is writing)"),
    ("disk i/o error", "the disk reported an I/O error"),
    ("malformed", "the database file is damaged"),
    ("not a database", "the file is not a SQLite database"),
]


class DatabaseError(UserError):
    """The database refused a read or write; the transaction was rolled back."""


def describe_database_error(exc: BaseException) -> str:
    """One line saying what went wrong with the database (or the disk under it)."""
    original = getattr(exc, "orig", None) or exc
    if isinstance(original, OSError) and original.errno in _DISK_FULL:
        return "the disk is full"
    if isinstance(original, OSError) and original.errno == errno.EROFS:
        return "the database is read-only"
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    lowered = text.lower()
    for needle, problem in _PROBLEMS:
        if needle in lowered:
            return problem
    return text or type(original).__name__


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "database is locked/busy": worth retrying."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).lower()
    return isinstance(original, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def database_failure(exc: BaseException) -> str | None:
    """The one line for a database error that escaped every handler; None for anything else."""
    if isinstance(exc, (SQLAlchemyError, sqlite3.Error)):
        return f"the database failed: {describe_database_error(exc)}"
    return None


@contextlib.contextmanager
def database_errors(action: str) -> Iterator[None]:
    """Turn database and disk failures inside the block into one DatabaseError line."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise DatabaseError(f"could not {action}: {describe_database_error(exc)}") from None
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        raise DatabaseError(f"could not {action}: {describe_database_error(exc)}") from None


async def write_with_retry(
    sessions: async_sessionmaker,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    deadline: float = 30.0,
) -> T:
    """Run `work` in its own transaction, again (with jittered backoff) while SQLite is busy.

    Each attempt waits only briefly for the lock and retries often, so a writer that
    releases the lock between short batches (an import) lets this one in at once.
    Gives up with the last error once `deadline` seconds have passed.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            async with sessions() as session:
                try:
                    async with session.begin():
                        conn = await session.connection()
                        await conn.exec_driver_sql(f"PRAGMA busy_timeout = {RETRY_BUSY_MS}")
                        return await work(session)
                finally:
                    with contextlib.suppress(SQLAlchemyError):
                        conn = await session.connection()
                        await conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except DBAPIError as exc:
            waited = time.monotonic() - started
            if not is_busy(exc) or waited >= deadline:
                raise
            delay = min(random.uniform(0.002, 0.005 * attempt), 0.05, deadline - waited)
            if attempt % 20 == 1:
                log.info("database busy (attempt %d); retrying", attempt)
            await asyncio.sleep(max(delay, 0.0))


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def database_file(url: str) -> Path | None:
    """The SQLite file of `url` (None for in-memory databases); URI filenames included."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if "?" in path:
        path = path.split("?", 1)[0]
    path = path.removeprefix("file:")
    return None if not path or path.startswith(":memory:") else Path(path).expanduser()


def has_sqlite_header(url: str) -> bool:
    """False when the file of `url` exists but does not start as a SQLite database does.

    A connection's page cache can hide a damaged header; this reads the disk itself.
    """
    path = database_file(url)
    try:
        with path.open("rb") if path else contextlib.nullcontext(None) as handle:
            return handle is None or handle.read(16) in (b"SQLite format 3\x00", b"")
    except FileNotFoundError:
        return True
    except OSError:
        return False


def ensure_parent_dir(url: str) -> None:
    """Create the directory that will hold the SQLite file of `url`."""
    path = database_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> AsyncEngine:
    """Async engine with WAL mode, a busy timeout and foreign keys on every connection."""
    ensure_parent_dir(url)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine.sync_engine, "connect", _set_pragmas)
    return engine


def make_sync_engine(url: str) -> Engine:
    """Synchronous engine on the same file, for pipeline work running in a worker thread."""
    ensure_parent_dir(url)
    sync_url = url.replace("sqlite+aiosqlite://", "sqlite://", 1)
    engine = create_engine(sync_url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _set_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    """The one session factory of a process."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations and `url`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


@contextlib.contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Serialize migrations of one database across processes (a lock file beside it)."""
    path = database_file(url)
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".migrate.lock")
    try:
        handle = lock_path.open("a")
    except OSError:  # a read-only directory: nobody can migrate there anyway
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the second process waits here, then goes on
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_REVISION = re.compile(r"^revision\b[^=]*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=(.*)$", re.M)


def migration_heads() -> frozenset[str]:
    """The head revisions of migrations/versions, read from the files' text.

    Alembic's own script loading costs a few hundred milliseconds of imports; reading the
    `revision` / `down_revision` lines is enough to tell whether a database is current.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if found := _REVISION.search(source):
            revisions.add(found.group(1))
        if found := _DOWN_REVISION.search(source):
            parents.update(re.findall(r"[\"']([^\"']+)[\"']", found.group(1)))
    return frozenset(revisions - parents)


def schema_is_current(url: str) -> bool:
    """True when the file's alembic_version names exactly the migrations' heads.

    One cheap query; anything unusual (no file, no table, a damaged file) answers False and
    leaves the decision to Alembic, which reports it as before.
    """
    path = database_file(url)
    if path is None or not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as conn:
            stored = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    except sqlite3.Error:
        return False
    return bool(stored) and stored == migration_heads()


def upgrade_database_sync(url: str) -> None:
    """Migrate the database at `url` to the newest schema (blocking, one process at a time)."""
    if schema_is_current(url):
        return
    from alembic import command

    ensure_parent_dir(url)
    with migration_lock(url), database_errors("open the database"):
        command.upgrade(alembic_config(url), "head")


async def upgrade_database(url: str) -> None:
    """Migrate without blocking the event loop (Alembic's env.py runs its own loop)."""
    await asyncio.to_thread(upgrade_database_sync, url)


class Database:
    """The engine and session factory of one process, migrated on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Database:
        """Migrate (by default) and connect."""
        if migrate and not schema_is_current(url):
            await upgrade_database(url)
        return cls(url)

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
