"""Shared validation of parsed history rows: bad rows, now-playing rows, exact duplicates."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputFormatError
from pipeline.normalize import artist_key
from pipeline.plausible import MAX_MBID_CHARS, MAX_NAME_CHARS, clean_names, implausible_ts

SCROBBLE_COLUMNS = ["ts", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid"]
TEXT_COLUMNS = SCROBBLE_COLUMNS[1:]
DEDUP_COLUMNS = ["ts", "artist", "album", "track"]
NAME_COLUMNS = ["artist", "track", "album"]
MAX_EXAMPLES = 5
# "now" of the file being read (its upper bound for plausible times); read_history sets it
# from its caller's clock, the system clock otherwise.
READ_NOW: ContextVar[float | None] = ContextVar("READ_NOW", default=None)

# Reason codes, in priority order; 0 means a good row.
_GOOD, _ERROR, _NOW_PLAYING, _NO_DATE, _BAD_DATE, _RANGE, _NO_ARTIST, _NO_TRACK = range(8)


@dataclass
class ImportResult:
    """A parsed history file: the scrobbles frame and what was dropped on the way."""

    frame: pd.DataFrame
    format: str
    rows_read: int
    bad_rows: int = 0
    bad_examples: list[tuple[int, str]] = field(default_factory=list)
    skipped_now_playing: int = 0
    duplicates: int = 0
    capped: int = 0  # name fields cut to MAX_NAME_CHARS (mbids to MAX_MBID_CHARS)
    location: str = "line"  # what bad_examples numbers count: "line" or "record"

    def describe_bad(self) -> list[str]:
        """The first bad rows as 'line N: reason' strings."""
        return [f"{self.location} {number}: {reason}" for number, reason in self.bad_examples]


def empty_raw(rows: int = 0) -> pd.DataFrame:
    """A raw frame of `rows` empty rows (all text columns "")."""
    frame = pd.DataFrame({"line": np.arange(1, rows + 1, dtype="int64")})
    frame["ts"] = np.nan
    for column in ("date", *TEXT_COLUMNS):
        frame[column] = pd.Series([""] * rows, dtype="str")
    return frame


def error_rows(errors: list[tuple[int, str]]) -> pd.DataFrame:
    """Raw rows that failed before field parsing (malformed lines), with their reasons."""
    frame = empty_raw(len(errors))
    frame["line"] = np.array([line for line, _ in errors], dtype="int64")
    frame["error"] = pd.Series([reason for _, reason in errors], dtype="str")
    return frame


def text(values: pd.Series) -> pd.Series:
    """Values as strings; missing values become ""."""
    if isinstance(values.dtype, pd.StringDtype) and not values.hasnans:
        return values
    return values.astype(object).where(values.notna(), "").astype("str")


def _blank(codes: np.ndarray, uniques: pd.Index) -> np.ndarray:
    """Per row: is the value empty or whitespace (decided once per distinct value)."""
    blank_unique = np.zeros(len(uniques) + 1, dtype=bool)  # the extra slot is code -1 (missing)
    if len(uniques):
        blank_unique[:-1] = np.asarray(uniques.str.strip() == "", dtype=bool)
    return blank_unique[codes]


def unix_seconds(stamps: pd.Series) -> pd.Series:
    """Float Unix seconds of a tz-aware datetime series (NaN for NaT), any resolution."""
    # In the series' own unit: a year-0 date parsed in seconds would overflow nanoseconds.
    epoch = pd.Timestamp(0, tz="UTC").as_unit(stamps.dt.unit)
    return (stamps - epoch).dt.total_seconds()


def _reason_texts(codes: np.ndarray, bad: pd.DataFrame) -> list[str]:
    dates = bad["date"].tolist()
    errors = bad["error"].tolist() if "error" in bad else [""] * len(bad)
    sources = bad["src"].tolist() if "src" in bad else [""] * len(bad)
    texts = []
    for code, full_date, error, src in zip(codes, dates, errors, sources, strict=True):
        date = full_date if len(full_date) <= 40 else full_date[:37] + "..."
        reason = {
            _ERROR: error,
            _NO_DATE: "missing date",
            _BAD_DATE: f"unparseable date {date!r}",
            _RANGE: f"implausible date {date!r} (before 2002 or in the future)",
            _NO_ARTIST: "empty artist",
            _NO_TRACK: "empty track",
        }[int(code)]
        texts.append(f"{src}: {reason}" if src else reason)
    return texts


def _now(now: float | None) -> float:
    """Upper bound of plausible times: the argument, else read_history's, else the system's."""
    if now is not None:
        return now
    read_now = READ_NOW.get()
    return time.time() if read_now is None else read_now


def finish(
    raw: pd.DataFrame,
    fmt: str,
    *,
    now_playing_when_dateless: bool = False,
    location: str = "line",
    now: float | None = None,
) -> ImportResult:
    """Validate raw rows (line, ts float, date text, names, optional error/src) into a result."""
    raw["date"] = text(raw["date"]) if "date" in raw else ""
    capped = 0
    for column in TEXT_COLUMNS:
        limit = MAX_NAME_CHARS if column in NAME_COLUMNS else MAX_MBID_CHARS
        values = text(raw[column]) if column in raw else pd.Series("", index=raw.index)
        raw[column], cut = clean_names(values, limit)
        capped += cut
    if "error" in raw:
        raw["error"] = text(raw["error"])
    # Fully blank lines are not rows at all.
    blank = (raw["date"] == "") & (raw["artist"] == "") & (raw["track"] == "")
    blank &= raw["album"] == ""
    if "error" in raw:
        blank &= raw["error"] == ""
    if blank.any():
        raw = raw[~blank.to_numpy()].reset_index(drop=True)
    # Factorize names once: blank checks per distinct name, duplicates compared as integers.
    codes_of = {c: pd.factorize(raw[c]) for c in ("artist", "track", "album")}
    blank_artist, blank_track = (_blank(*codes_of[c]) for c in ("artist", "track"))
    ts = pd.to_numeric(raw["ts"], errors="coerce").to_numpy(dtype="float64")
    has_error = (raw["error"] != "").to_numpy() if "error" in raw else np.zeros(len(raw), bool)
    dateless = (raw["date"] == "").to_numpy()
    codes = np.select(
        [
            has_error,
            dateless & now_playing_when_dateless,
            dateless,
            np.isnan(ts),
            implausible_ts(ts, _now(now)),
            blank_artist,
            blank_track,
        ],
        [_ERROR, _NOW_PLAYING, _NO_DATE, _BAD_DATE, _RANGE, _NO_ARTIST, _NO_TRACK],
        _GOOD,
    )
    is_bad = codes >= _ERROR
    is_bad[codes == _NOW_PLAYING] = False
    first_bad = np.flatnonzero(is_bad)[:MAX_EXAMPLES]
    examples = list(
        zip(
            raw["line"].to_numpy()[first_bad].tolist(),
            _reason_texts(codes[first_bad], raw.iloc[first_bad]),
            strict=True,
        )
    )
    good = codes == _GOOD
    good_ts = np.floor(ts[good]).astype("int64")
    # Spellings of one artist are one artist in the database, so they are duplicates here too.
    artist_codes = pd.factorize(
        np.array([artist_key(n) for n in codes_of["artist"][1]], dtype=object)
    )[0]
    key = pd.DataFrame(
        {"ts": good_ts, "artist": artist_codes[codes_of["artist"][0][good]]}
        | {c: codes_of[c][0][good] for c in DEDUP_COLUMNS[2:]}
    )
    duplicated = key.duplicated().to_numpy()
    keep = np.flatnonzero(good)[~duplicated]
    keep = keep[np.argsort(good_ts[~duplicated], kind="stable")]
    frame = raw[TEXT_COLUMNS].take(keep).reset_index(drop=True)
    frame.insert(0, "ts", np.floor(ts[keep]).astype("int64"))
    return ImportResult(
        frame=frame[SCROBBLE_COLUMNS],
        format=fmt,
        rows_read=len(raw),
        bad_rows=int(is_bad.sum()),
        bad_examples=examples,
        skipped_now_playing=int((codes == _NOW_PLAYING).sum()),
        duplicates=int(duplicated.sum()),
        capped=capped,
        location=location,
    )


def require_valid(result: ImportResult, path: Path) -> ImportResult:
    """Refuse a file in which every row is bad: it is almost surely the wrong format."""
    if result.bad_rows and result.bad_rows == result.rows_read:
        first = result.describe_bad()[0]
        raise InputFormatError(
            f"{path}: no valid scrobbles as {result.format} "
            f"({result.bad_rows:,} bad rows; first: {first})"
        )
    return result
