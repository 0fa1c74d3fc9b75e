"""What the API process holds: database, the model (reloaded when its files change), context."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sqlalchemy import text

from bot.db.session import Database, database_file
from bot.metadata.fetcher import MetadataFetcher
from pipeline.feature_rows import MonthContext
from pipeline.periods import Zone, month_bounds, month_codes, month_labels
from pipeline.train import load_bundle

log = logging.getLogger(__name__)

# Plays per (owner's month, artist): the months' bounds come from pipeline.periods, as the
# rebuild's do, because SQLite knows no time zones.
MONTH_COUNTS = (
    "WITH bounds(month, lo, hi) AS (SELECT json_extract(value, '$[0]'),"
    " json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(:bounds)) "
    "SELECT bounds.month, s.artist_id AS artist, COUNT(*) AS plays FROM bounds "
    "JOIN scrobbles AS s ON s.ts >= bounds.lo AND s.ts < bounds.hi "
    "GROUP BY bounds.month, s.artist_id"
)


def owner_months(first_ts: int, last_ts: int, tz: Zone) -> str:
    """JSON [[month, start, end), ...] of the owner's months from `first_ts` to `last_ts`."""
    first, last = (int(c) for c in month_codes(np.array([first_ts, last_ts]), tz))
    bounds = month_bounds(first, last, tz).tolist()
    labels = month_labels(np.arange(first, last + 1)).tolist()
    rows = zip(labels, bounds[:-1], bounds[1:], strict=True)
    return json.dumps([[month, lo, hi] for month, lo, hi in rows])


def _model_stamp(directory: Path) -> tuple:
    """Names, sizes and mtimes of the model files: changes whenever a rebuild saves."""
    try:
        return tuple(
            sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir())
        )
    except OSError:
        return ()


@dataclass
class ModelCache:
    """The stored model, loaded again only when its files change."""

    directory: Path
    _stamp: tuple | None = None
    _bundle: object | None = None
    _error: str | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> tuple[object | None, str | None]:
        """(bundle or None, why there is none)."""
        stamp = _model_stamp(self.directory)
        if stamp != self._stamp:
            async with self._lock:
                if stamp != self._stamp:
                    await asyncio.to_thread(self._load, stamp)
        return self._bundle, self._error

    def _load(self, stamp: tuple) -> None:
        try:
            self._bundle = load_bundle(self.directory)
            self._error = None if self._bundle else "no trained model yet: run `breakout rebuild`"
        except Exception as exc:  # a half-written or foreign file: report, keep serving
            log.warning("the model in %s is unusable: %s", self.directory, exc)
            # What clients read names no path: /health answers without a token.
            self._bundle, self._error = None, "model unusable (the server log says why)"
        self._stamp = stamp


@dataclass
class ContextCache:
    """The listener's month statistics, rebuilt in the background when scrobbles change."""

    db: Database
    tz: Zone = None
    _key: int | None = None
    _context: MonthContext | None = None
    _task: asyncio.Task | None = None
    _version: tuple | None = None

    async def get(self, version: tuple | None = None) -> MonthContext | None:
        """The newest context; waits only the first time (later refreshes serve the old one).

        `version` is AnswerCache's: while the database is unchanged, nothing is read."""
        if version is not None and version == self._version and self._key is not None:
            return self._context
        async with self.db.sessions() as session:
            key = (await session.execute(text("SELECT MAX(id) FROM scrobbles"))).scalar() or 0
        self._version = version
        if key != self._key:
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._refresh(key))
            if self._key is None:
                await asyncio.shield(self._task)
        return self._context

    async def _refresh(self, key: int) -> None:
        async with self.db.sessions() as session:
            span = (await session.execute(text("SELECT MIN(ts), MAX(ts) FROM scrobbles"))).one()
            rows = []
            if span[0] is not None:
                bounds = owner_months(int(span[0]), int(span[1]), self.tz)
                rows = (await session.execute(text(MONTH_COUNTS), {"bounds": bounds})).all()
        frame = pd.DataFrame(rows, columns=["month", "artist", "plays"])
        self._context = await asyncio.to_thread(MonthContext.from_counts, frame)
        self._key = key


@dataclass
class AnswerCache:
    """Answers read from the database, kept until anything in the database changes.

    The version is SQLite's `PRAGMA data_version` on a connection of its own that never
    writes (it changes with every commit of any other connection: a rebuild, a rescore, a
    sync, a verdict, a metadata fetch), plus the file's identity, size and mtime (a file
    replaced or written behind SQLite's back). Reading it costs microseconds, so it is read
    on the event loop; anything unusual means no cache and the answer is computed.
    """

    url: str
    _connection: sqlite3.Connection | None = None
    _file: tuple[int, int] | None = None
    _version: tuple | None = None
    _answers: dict[Hashable, bytes] = field(default_factory=dict)

    def version(self) -> tuple | None:
        """The database's version now (None: unknown, do not cache)."""
        path = database_file(self.url)
        try:
            if path is None:
                return None
            stat = path.stat()
            if self._connection is None or self._file != (stat.st_dev, stat.st_ino):
                self.close()
                self._connection = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.05
                )
                self._file = (stat.st_dev, stat.st_ino)
            (changes,) = self._connection.execute("PRAGMA data_version").fetchone()
        except (OSError, sqlite3.Error):
            self.close()
            return None
        return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, changes)

    def get(self, key: Hashable) -> tuple[bytes | None, tuple | None]:
        """(the cached answer or None, the version to store a new answer under)."""
        version = self.version()
        if version != self._version:
            self._answers.clear()
            self._version = version
        return (self._answers.get(key) if version is not None else None), version

    def put(self, key: Hashable, version: tuple | None, answer: bytes) -> None:
        """Keep an answer computed after `version` was read (dropped if it changed since)."""
        if version is not None and version == self._version:
            self._answers[key] = answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._file = None


@dataclass
class ApiState:
    """Everything the routes use; one per app."""

    db: Database
    token: str | None
    models: ModelCache
    context: ContextCache
    http: httpx.AsyncClient
    fetcher: MetadataFetcher | None
    candidates_limit: int
    answers: AnswerCache
