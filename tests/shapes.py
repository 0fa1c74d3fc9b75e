"""Realistic history shapes for end-to-end runs: pure functions of a pinned clock.

Each shape is a scrobble frame (the columns of `pipeline.simulate.simulate_listener`), the
instant the run pretends it is, and the owner's time zone. `write_ghan` turns a frame into a
file `breakout import` reads (lastfm.ghan.nl CSV, exact seconds).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipeline.simulate import simulate_listener

DAY = 86_400
COLUMNS = ["ts", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid"]


@dataclass(frozen=True)
class Shape:
    """One history and the clock it is looked at with."""

    name: str
    scrobbles: pd.DataFrame
    now: datetime  # aware UTC
    tz: str = "UTC"
    scorable: bool = True  # False: the answer is one line saying why nothing can be scored


def _local(text: str, tz: str) -> datetime:
    """An aware UTC instant from a local wall-clock time in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _frame(ts: np.ndarray, artists: object, tracks: object) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": np.asarray(ts, dtype="int64"),
            "artist": pd.Series(np.asarray(artists, dtype=object)),
            "track": pd.Series(np.asarray(tracks, dtype=object)),
            "album": "",
            "artist_mbid": "",
            "track_mbid": "",
            "album_mbid": "",
        }
    )[COLUMNS]


def old_export(now: datetime) -> Shape:
    """Two years of listening that stopped on 10 May 2021."""
    end = datetime(2021, 5, 10, 21, 0, tzinfo=UTC)
    return Shape("old_export", simulate_listener(21, 24, end), now, scorable=False)


def back_after_break(now: datetime, months_away: int = 14) -> Shape:
    """Two years, a `months_away` silence, then three weeks of listening again."""
    before = simulate_listener(22, 24, now - timedelta(days=21 + 30.44 * months_away))
    again = simulate_listener(23, 1, now)
    again = again[again["ts"] >= int((now - timedelta(days=21)).timestamp())]
    return Shape(f"back_after_{months_away}_months", pd.concat([before, again]), now)


def nothing_this_month(now: datetime, tz: str) -> Shape:
    """Two years that end the evening before this month began (local time)."""
    local = now.astimezone(ZoneInfo(tz))
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = month_start - timedelta(hours=3)
    return Shape("nothing_this_month", simulate_listener(24, 24, end), now, tz)


def short_history(now: datetime, months: int) -> Shape:
    """Only `months` months of listening, up to now."""
    name = f"only_{months}_month{'s' if months != 1 else ''}"
    return Shape(name, simulate_listener(25, months, now), now)


def one_artist(now: datetime) -> Shape:
    """Eight months of one artist, a few plays most days."""
    days = np.arange(8 * 30)
    plays = np.random.default_rng(26).poisson(3, len(days))
    day = np.repeat(days, plays)
    ts = int(now.timestamp()) - (8 * 30 - day) * DAY + np.arange(len(day)) % 3 * 600
    tracks = [f"Song {i % 40}" for i in range(len(day))]
    return Shape("one_artist", _frame(ts, ["Solo Act"] * len(day), tracks), now)


def one_second(now: datetime) -> Shape:
    """500 scrobbles stamped with the same second (a broken scrobbler), and nothing else."""
    second = int(now.timestamp()) - 5 * DAY
    artists = [f"Burst Artist {i % 7}" for i in range(500)]
    tracks = [f"Track {i}" for i in range(500)]
    return Shape("500_on_one_second", _frame(np.full(500, second), artists, tracks), now)


def many_artists(now: datetime, distinct: int = 110_000) -> Shape:
    """A crate digger: `distinct` artists played once or twice, over a simulated listener."""
    rng = np.random.default_rng(27)
    base = simulate_listener(28, 12, now)
    start = int(now.timestamp()) - 365 * DAY
    plays = rng.integers(1, 3, distinct)
    artist = np.repeat(np.arange(distinct), plays)
    ts = start + rng.integers(0, 365 * DAY - 3600, len(artist))
    names = np.char.add("Digger ", artist.astype(str))
    tracks = np.char.add("Cut ", rng.integers(0, 5, len(artist)).astype(str))
    return Shape("100k_artists", pd.concat([base, _frame(ts, names, tracks)]), now)


def clock_shape(name: str, local_now: str, tz: str, months: int = 18) -> Shape:
    """A listener active up to a pinned local clock (1st at 00:00, DST day, 29 February)."""
    now = _local(local_now, tz)
    return Shape(name, simulate_listener(29, months, now), now, tz)


def all_shapes(now: datetime) -> list[Callable[[], Shape]]:
    """Every shape, lazily (the large one takes seconds to build)."""
    return [
        lambda: old_export(now),
        lambda: back_after_break(now, 7),
        lambda: back_after_break(now, 23),
        lambda: nothing_this_month(now, "Europe/Berlin"),
        lambda: short_history(now, 1),
        lambda: short_history(now, 2),
        lambda: one_artist(now),
        lambda: one_second(now),
        lambda: clock_shape("first_of_month_0000", "2026-11-01T00:00:00", "Europe/Berlin"),
        lambda: clock_shape("dst_spring_berlin", "2026-03-29T02:30:00", "Europe/Berlin"),
        lambda: clock_shape("dst_autumn_berlin", "2026-10-25T02:30:00", "Europe/Berlin"),
        lambda: clock_shape("leap_day_utc_plus_14", "2024-02-29T00:30:00", "Pacific/Kiritimati"),
        lambda: clock_shape("year_end_utc_plus_14", "2026-12-31T23:30:00", "Pacific/Kiritimati"),
        lambda: many_artists(now),
    ]


def write_ghan(frame: pd.DataFrame, path: Path) -> Path:
    """The frame as a lastfm.ghan.nl CSV (uts, utc_time, artist, ..., track_mbid)."""
    header = ["uts", "utc_time", "artist", "artist_mbid", "album", "album_mbid", "track"]
    ordered = frame.sort_values("ts", kind="stable")
    utc = pd.to_datetime(ordered["ts"], unit="s", utc=True).dt.strftime("%d %b %Y, %H:%M")
    out = pd.DataFrame(
        {
            "uts": ordered["ts"].to_numpy(),
            "utc_time": utc.to_numpy(),
            "artist": ordered["artist"].to_numpy(),
            "artist_mbid": "",
            "album": ordered["album"].to_numpy(),
            "album_mbid": "",
            "track": ordered["track"].to_numpy(),
            "track_mbid": "",
        }
    )
    out.to_csv(path, index=False, header=[*header, "track_mbid"], quoting=csv.QUOTE_MINIMAL)
    return path
