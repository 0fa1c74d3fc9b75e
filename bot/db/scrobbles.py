"""Storage of scrobbles: bulk upsert, statistics, and loading for the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.normalize import artist_keys

SCROBBLE_COLUMNS = ["ts", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid"]
_KEY_CHUNK = 500

_INSERT_ARTISTS = (
    "INSERT INTO artists (key, name, mbid) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
_INSERT_SCROBBLES = (
    "INSERT INTO scrobbles (ts, artist_id, artist_name, track, album, track_mbid, album_mbid) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _blank_to_none(values: pd.Series) -> list[str | None]:
    return [v or None for v in values.tolist()]


async def _artist_ids(session: AsyncSession, frame: pd.DataFrame, keys: pd.Series) -> pd.Series:
    """Insert unknown artists and return the artist id of every row."""
    conn = await session.connection()
    firsts = frame.assign(_key=keys).drop_duplicates("_key")
    mbids = frame.assign(_key=keys, _mbid=frame["artist_mbid"])
    mbids = mbids[mbids["_mbid"] != ""].drop_duplicates("_key").set_index("_key")["_mbid"]
    rows = [
        (key, name, mbids.get(key))
        for key, name in zip(firsts["_key"].tolist(), firsts["artist"].tolist(), strict=True)
    ]
    await conn.exec_driver_sql(_INSERT_ARTISTS, rows)
    distinct = firsts["_key"].tolist()
    ids: dict[str, int] = {}
    for start in range(0, len(distinct), _KEY_CHUNK):
        chunk = distinct[start : start + _KEY_CHUNK]
        marks = ",".join("?" * len(chunk))
        result = await conn.exec_driver_sql(
            f"SELECT key, id FROM artists WHERE key IN ({marks})", tuple(chunk)
        )
        ids.update(dict(result.all()))
    return keys.map(ids)


async def store_scrobbles(session: AsyncSession, frame: pd.DataFrame) -> int:
    """Upsert scrobbles (columns SCROBBLE_COLUMNS) in the session's transaction; return new rows."""
    if frame.empty:
        return 0
    frame = frame.reindex(columns=SCROBBLE_COLUMNS).astype({"ts": "int64"})
    for column in SCROBBLE_COLUMNS[1:]:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    keys = artist_keys(frame["artist"])
    ids = await _artist_ids(session, frame, keys)
    rows = list(
        zip(
            frame["ts"].astype("int64").tolist(),
            ids.astype("int64").tolist(),
            frame["artist"].tolist(),
            frame["track"].tolist(),
            frame["album"].tolist(),
            _blank_to_none(frame["track_mbid"]),
            _blank_to_none(frame["album_mbid"]),
            strict=True,
        )
    )
    conn = await session.connection()
    before = (await conn.exec_driver_sql("SELECT total_changes()")).scalar_one()
    await conn.exec_driver_sql(_INSERT_SCROBBLES, rows)
    after = (await conn.exec_driver_sql("SELECT total_changes()")).scalar_one()
    return int(after - before)


@dataclass(frozen=True)
class HistoryStats:
    """Summary of the stored listening history."""

    scrobbles: int
    artists: int
    first_ts: int | None
    last_ts: int | None

    @staticmethod
    def iso(ts: int | None) -> str | None:
        """ISO-8601 UTC of a Unix timestamp."""
        if ts is None:
            return None
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


async def history_stats(session: AsyncSession) -> HistoryStats:
    """Count scrobbles and artists that have scrobbles; first and last timestamps."""
    row = (
        await session.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT artist_id), MIN(ts), MAX(ts) FROM scrobbles")
        )
    ).one()
    return HistoryStats(int(row[0]), int(row[1]), row[2], row[3])


def load_scrobbles(connection: Connection) -> pd.DataFrame:
    """All scrobbles as a frame: ts, artist (display name), artist_key, track, album."""
    frame = pd.read_sql_query(
        "SELECT s.ts AS ts, a.name AS artist, a.key AS artist_key, s.track AS track, "
        "s.album AS album FROM scrobbles s JOIN artists a ON a.id = s.artist_id ORDER BY s.ts",
        connection.connection.driver_connection,
        dtype={"ts": "int64"},
    )
    return frame
