"""Artist names folded for lookups: an index built off the event loop, cached per artist count.

A history may hold a million artists. Folding accents and comparing names then takes
seconds, so it never runs on the event loop: the index is built once in a worker thread
(again only when artists were added), and fuzzy matching compares a bounded pool of names.
"""

from __future__ import annotations

import asyncio
import difflib
import gc
import sqlite3
import sys
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.session import database_file

MAX_FUZZY_KEYS = 20_000  # names difflib compares (~0.1 s); beyond it, the nearest in shape
LENGTH_SLACK = 3
STAMP = "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM artists"


@cache
def _combining_marks() -> dict[int, None]:
    """str.translate table deleting every combining character (built once, ~0.3 s)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}


def fold(key: str) -> str:
    """An artist key without accents ('beyoncé' -> 'beyonce')."""
    if key.isascii():  # nothing to fold, and `why <name>` skips building the table
        return key
    return unicodedata.normalize("NFKD", key).translate(_combining_marks())


@dataclass(frozen=True)
class NameIndex:
    """Every artist key; the accented ones by folded key; all by folded first letter."""

    keys: list[str]
    folded: dict[str, list[str]]  # only keys that folding changes: most are plain ASCII
    by_initial: dict[str, list[str]]

    @classmethod
    def build(cls, keys: list[str]) -> NameIndex:
        folded: dict[str, list[str]] = defaultdict(list)
        by_initial: dict[str, list[str]] = defaultdict(list)
        paused = gc.isenabled()
        gc.disable()  # a full collection over a million new objects would hold the GIL
        try:
            for key in keys:
                plain = key if key.isascii() else fold(key)
                if plain != key:
                    folded[plain].append(key)
                by_initial[plain[:1]].append(key)
        finally:
            if paused:
                gc.enable()
        return cls(keys, dict(folded), dict(by_initial))

    def accented(self, plain: str) -> list[str]:
        """The keys that fold to `plain` and differ from it ('beyoncé' for 'beyonce')."""
        return self.folded.get(plain, [])

    def fuzzy_pool(self, key: str) -> list[str]:
        """Keys worth a similarity score: all of them, or those shaped like `key` when many."""
        if len(self.keys) <= MAX_FUZZY_KEYS:
            return self.keys
        similar = self.by_initial.get(fold(key)[:1], [])
        pool = [k for k in similar if abs(len(k) - len(key)) <= LENGTH_SLACK]
        return pool[:MAX_FUZZY_KEYS]

    def close(self, query: str) -> tuple[str | None, list[str]]:
        """(confident match or None, close keys): unique substring or high similarity."""
        contains = [k for k in self.keys if query in k]
        pool = self.fuzzy_pool(query)
        close = difflib.get_close_matches(query, pool, n=5, cutoff=0.6)
        if len(contains) == 1 and len(query) >= 3:
            return contains[0], [k for k in close if k != contains[0]]
        if close and difflib.SequenceMatcher(None, query, close[0]).ratio() >= 0.85:
            return close[0], close[1:]
        nearest = contains[:5] + [k for k in close if k not in contains]
        if not nearest:
            nearest = difflib.get_close_matches(query, pool, n=5, cutoff=0.3)
        return None, nearest[:5]


_cache: dict[str, tuple[tuple[int, int], NameIndex]] = {}
_cache_lock = threading.Lock()


def _read_keys(path: Path) -> list[str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [row[0] for row in connection.execute("SELECT key FROM artists")]
    finally:
        connection.close()


def _built(where: str, stamp: tuple[int, int], path: Path) -> NameIndex:
    index = NameIndex.build(_read_keys(path))
    with _cache_lock:
        _cache[where] = (stamp, index)
    return index


async def name_index(session: AsyncSession) -> NameIndex:
    """The index of the session's database, rebuilt off the loop when artists were added."""
    stamp = tuple((await session.execute(text(STAMP))).one())
    where = str(session.bind.url) if session.bind is not None else ""
    with _cache_lock:
        cached = _cache.get(where)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    path = database_file(where)
    if path is None:  # an in-memory database (tests): small, read through the session
        keys = list((await session.execute(text("SELECT key FROM artists"))).scalars())
        return await asyncio.to_thread(NameIndex.build, keys)
    return await asyncio.to_thread(_built, where, stamp, path)  # type: ignore[arg-type]
