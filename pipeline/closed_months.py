"""The closed months of the calendar feature table, kept between runs for the rescore.

A row of the artist-month table only depends on the plays up to the end of its month, so once a
month is over its rows stay as they are. A run that builds the table from the whole history
keeps what a rescore reads of its closed months (`ClosedMonths`, saved as plain arrays: no
pickle); the rescore after a sync then reads only the plays since `recent_start` instead of the
whole history. The service keys the saved copy by the scrobbles it was built from (how many
precede the open month, the newest id and the sums of their ts and artist ids: stored scrobbles
are only ever added), the
code that builds the table, the config, the time zone and the open month: a late scrobble into a
closed month changes the key, and the next run builds everything from the whole history again.

What a rescore reads of the calendar table, and so what is kept: every column of the last closed
month (the scored rows), and of every closed month the plays, totals, core and eligibility
(status, resolutions, breakouts). The open month gets its plays, total and core only: nothing
scores it in a rescore (the trailing window covers it), so its features are NaN.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from zipfile import BadZipFile

import numpy as np
import pandas as pd

from pipeline import rules
from pipeline.config import PipelineConfig
from pipeline.normalize import artist_keys
from pipeline.periods import DAY, Zone, month_of, month_start

FORMAT = 1  # of the file
# The code that shapes the table: a saved copy made by other code (a new release) is not used.
_TABLE_CODE = ("features.py", "rules.py", "periods.py", "normalize.py", "closed_months.py")
FILE_NAME = "closed_months.npz"
KEPT = ["period", "first_seen_ts", "plays_t", "total_monthly_scrobbles", "is_core", "eligible"]
FLAGS = ["is_core", "eligible", "learnable"]


@dataclass(frozen=True)
class ClosedMonths:
    """What a rescore needs of the months before `open_start` (see the module docstring)."""

    table: pd.DataFrame  # every closed row, in the full table's order: identity and `KEPT`
    last_month: pd.DataFrame  # the last closed month's rows with every column
    labels: list[str]  # 'YYYY-MM' of each closed period
    last_ts: pd.Series  # artist_key -> newest play before the open month
    open_start: int  # Unix seconds: midnight on the 1st of the open month
    key: str = ""  # what it was built from (set by the service)

    def recent_start(self, now: int, cfg: PipelineConfig) -> int:
        """The plays from here on are all a rescore reads: the open month and the trailing
        windows an eligible artist can reach (see `pipeline.score.trailing_table`)."""
        windows = (cfg.eligible_max_age + 1) * cfg.trailing_days * DAY
        return min(self.open_start, int(now) - windows)

    @cached_property
    def first_seen(self) -> pd.Series:
        """artist_key -> first play, of every artist played in the closed months."""
        return self.table.groupby("artist_key", sort=False)["first_seen_ts"].min()

    def seen_before(self, start: int) -> np.ndarray:
        """Keys of the artists first played before `start` (≤ the open month's start)."""
        first = self.first_seen
        return first.index[first.to_numpy() < start].to_numpy(dtype=object)


@cache
def code_version() -> str:
    """Digest of the modules that build the table (part of the key of a saved copy)."""
    digest = hashlib.sha256()
    for name in _TABLE_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


def usable(now: int, tz: Zone) -> bool:
    """Whether a rescore at `now` can use closed months: not at midnight on the 1st, when the
    month in progress has no period yet (the status then builds it from the whole history)."""
    return month_of(now, tz) == month_of(now - 1, tz)


def open_start(now: int, tz: Zone) -> int:
    """Midnight on the 1st of the month containing `now`, in the owner's time zone."""
    return month_start(month_of(now, tz), tz)


def newest_plays(scrobbles: pd.DataFrame, split: int | None = None):
    """(artist_key -> newest play, the same over the plays before `split` or None)."""
    codes, keys = pd.factorize(_keys(scrobbles).to_numpy())
    ts = scrobbles["ts"].to_numpy(dtype="int64")
    newest = np.full(len(keys), np.iinfo("int64").min)
    np.maximum.at(newest, codes, ts)
    index = pd.Index(keys, dtype=object)
    if split is None:
        return pd.Series(newest, index=index), None
    early = ts < split
    before = np.full(len(keys), np.iinfo("int64").min)
    np.maximum.at(before, codes[early], ts[early])
    played = before > np.iinfo("int64").min
    return pd.Series(newest, index=index), pd.Series(before[played], index=index[played])


def closed_months(monthly: pd.DataFrame, last_ts: pd.Series, now: int, tz: Zone):
    """The closed part of `monthly` (built by `monthly_table` for `now`), with each artist's
    newest play before the open month (`newest_plays`); None at midnight on the 1st."""
    if not usable(now, tz) or not monthly.attrs.get("open_last_period"):
        return None
    n_closed = int(monthly.attrs["n_periods"]) - 1
    period = monthly["period"].to_numpy()
    table = monthly.loc[period < n_closed, ["artist_key", "artist", "month", *KEPT, "learnable"]]
    last_month = monthly[period == n_closed - 1].drop(columns=["label"], errors="ignore")
    labels = [str(m) for m in monthly.attrs["period_labels"][:n_closed]]
    return ClosedMonths(table, last_month, labels, last_ts, open_start(now, tz))


def _keys(scrobbles: pd.DataFrame) -> pd.Series:
    if "artist_key" in scrobbles:
        return scrobbles["artist_key"]
    return artist_keys(scrobbles["artist"])


def with_open_month(
    closed: ClosedMonths, recent: pd.DataFrame, cfg: PipelineConfig, now: int, tz: Zone
) -> pd.DataFrame:
    """The calendar table of a rescore: the closed months, then the open month's plays, total
    and core per artist (`recent`: the plays since `closed.recent_start`, before `now`)."""
    ts = recent["ts"].to_numpy(dtype="int64")
    in_open = ts >= closed.open_start
    codes, keys = pd.factorize(_keys(recent).to_numpy()[in_open])
    plays = np.bincount(codes, minlength=len(keys)).astype("int64")
    first = np.full(len(keys), np.iinfo("int64").max)
    np.minimum.at(first, codes, ts[in_open])
    first_seen = (
        closed.first_seen.reindex(keys).fillna(pd.Series(first, index=keys)).to_numpy(dtype="int64")
    )
    names = np.empty(len(keys), dtype=object)
    names[codes[::-1]] = recent["artist"].to_numpy(dtype=object)[in_open][::-1]
    total = int(np.count_nonzero(in_open))
    n_closed = len(closed.labels)
    label = month_of(now, tz)
    rows = pd.DataFrame(
        {
            "artist_key": pd.Series(np.asarray(keys, dtype=object), dtype=object),
            "artist": pd.Series(names, dtype=object),
            "month": label,
            "period": np.full(len(keys), n_closed, dtype="int64"),
            "first_seen_ts": first_seen,
            "plays_t": plays.astype("float64"),
            "total_monthly_scrobbles": float(total),
            "is_core": rules.is_core(plays, total, cfg),
            "eligible": False,
            "learnable": False,
        }
    )
    older = closed.table[(closed.table["period"] < n_closed - 1).to_numpy()]
    frames = [older, closed.last_month, rows]
    table = pd.concat(frames, ignore_index=True)[closed.last_month.columns]
    for name in FLAGS:
        table[name] = table[name].astype(bool)
    table.attrs["n_periods"] = n_closed + 1
    table.attrs["period_labels"] = [*closed.labels, label]
    table.attrs["open_last_period"] = True
    return table


def last_played(closed: ClosedMonths, recent: pd.DataFrame) -> pd.Series:
    """artist_key -> newest play: the closed months' and the recent plays'."""
    ts = recent["ts"].to_numpy(dtype="int64")
    newest = pd.Series(ts).groupby(_keys(recent).to_numpy()).max()
    both = pd.concat([closed.last_ts, newest])
    return both.groupby(level=0).max()


def save(closed: ClosedMonths, path: Path) -> None:
    """Write `closed` as plain arrays (atomically: a reader sees the old file or the new one)."""
    table, last = closed.table, closed.last_month
    codes, keys = pd.factorize(pd.concat([table["artist_key"], last["artist_key"]]))
    names = pd.concat([table["artist"], last["artist"]]).groupby(codes, sort=True).first()
    header = {
        "format": FORMAT,
        "key": closed.key,
        "open_start": closed.open_start,
        "columns": list(last.columns),
    }
    arrays = {
        "header": np.array(json.dumps(header)),
        "labels": np.array(closed.labels, dtype=str),
        "keys": np.asarray(keys, dtype=str),
        "names": names.to_numpy(dtype=str),
        "row_artist": codes[: len(table)].astype("int32"),
        "last_artist": codes[len(table) :].astype("int32"),
        "last_keys": closed.last_ts.index.to_numpy(dtype=str),
        "last_ts": closed.last_ts.to_numpy(dtype="int64"),
    }
    for name in [*KEPT, "learnable"]:
        arrays[f"row_{name}"] = table[name].to_numpy()
    for name in last.columns[3:]:
        arrays[f"last_{name}"] = last[name].to_numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    with open(tmp, "wb") as out:
        np.savez(out, **arrays)
    os.replace(tmp, path)


def load(path: Path, key: str) -> ClosedMonths | None:
    """The saved closed months when they were built from `key`; None when missing, of another
    key or format, or unreadable (the caller then builds from the whole history)."""
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != FORMAT or header.get("key") != key:
                return None
            arrays = {name: data[name] for name in data.files}
        columns = header["columns"]
        keys, names = arrays["keys"].astype(object), arrays["names"].astype(object)
        labels = arrays["labels"].astype(object)

        def frame(prefix: str, names_: list[str]) -> pd.DataFrame:
            codes = arrays[f"{prefix}_artist"]
            out = pd.DataFrame(
                {
                    "artist_key": pd.Series(keys[codes], dtype=object),
                    "artist": pd.Series(names[codes], dtype=object),
                    "month": pd.Series(labels[arrays[f"{prefix}_period"]], dtype=object),
                }
            )
            for name in names_:
                out[name] = arrays[f"{prefix}_{name}"]
            return out

        table = frame("row", [*KEPT, "learnable"])
        last_month = frame("last", columns[3:])
        last_ts = pd.Series(arrays["last_ts"], index=arrays["last_keys"].astype(object))
        return ClosedMonths(
            table, last_month, list(labels), last_ts, int(header["open_start"]), key
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, BadZipFile):
        return None
