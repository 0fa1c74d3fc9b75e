"""CSV history formats: lastfm-to-csv, lastfm.ghan.nl, lastfmstats.com, the seed's scrobbles.csv."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.errors import EmptyDataError, ParserError, ParserWarning

from pipeline.errors import InputFormatError
from pipeline.importers.base import ImportResult, error_rows, finish, unix_seconds

_SKIPPED = re.compile(r"Skipping line (\d+): (.*)")
_EOF_IN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
LASTFM_TO_CSV_DATE = "%d %b %Y %H:%M"
GHAN_DATE = "%d %b %Y, %H:%M"


def read_csv_rows(
    path: Path,
    *,
    sep: str = ",",
    header: bool = True,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Every row as strings plus its physical `line`; malformed lines become error rows."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ParserWarning)
        try:
            frame = pd.read_csv(
                path,
                sep=sep,
                header=0 if header else None,
                names=names,
                index_col=False,
                dtype=str,
                na_filter=False,  # "NA", "null" and "NaN" are artist names, not missing values
                skip_blank_lines=False,  # keep line numbers exact
                on_bad_lines="warn",
                encoding="utf-8-sig",
                engine="c",
            )
        except UnicodeDecodeError:
            raise InputFormatError(f"{path}: not UTF-8 text") from None
        except EmptyDataError:
            raise InputFormatError(f"{path}: file is empty") from None
        except (ParserError, ValueError, OverflowError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if quote := _EOF_IN_QUOTE.search(detail):  # pandas counts rows from 0
                detail = f"unterminated quote starting at line {int(quote[1]) + 1}"
            raise InputFormatError(f"{path}: cannot parse as CSV: {detail}") from None
    skipped: list[tuple[int, str]] = []
    for warning in caught:
        if not issubclass(warning.category, ParserWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
            continue
        for match in _SKIPPED.finditer(str(warning.message)):
            skipped.append((int(match[1]), f"malformed line: {match[2].strip()}"))
    # Keep the file's own columns clear of the names finish() gives a meaning to.
    frame = frame.rename(columns={c: f"{c}_" for c in ("line", "error", "src") if c in frame})
    first_line = 2 if header else 1
    lines = np.arange(first_line, first_line + len(frame) + len(skipped), dtype="int64")
    if skipped:
        lines = lines[~np.isin(lines, [line for line, _ in skipped])]
    frame.insert(0, "line", lines[: len(frame)])
    frame.columns = [str(c).strip().lower() if c != "line" else c for c in frame.columns]
    fields = list(frame.columns[1:])
    if skipped:
        frame = pd.concat([frame, error_rows(skipped)], ignore_index=True)
        frame = frame.sort_values("line", kind="stable", ignore_index=True)
    frame.attrs["fields"] = fields  # the file's own columns, in order
    return frame


def mark_short_lines(frame: pd.DataFrame, path: Path, sep: str, required: list[str]) -> None:
    """Give rows read from lines with too few fields a "malformed line" error.

    pandas pads short lines with empty fields. Only rows whose last and some required
    field are empty can be short, so only those lines are read again (and only if any).
    """
    fields = [c for c in frame.attrs["fields"] if not c.startswith("_spare")]
    expected = len(fields)
    empty = frame[fields[-1]].fillna("") == ""
    empty &= (frame[[c for c in required if c in frame]].fillna("") == "").any(axis=1)
    suspects = frame["line"][empty]
    if "error" in frame:
        suspects = suspects[frame["error"].fillna("").loc[suspects.index] == ""]
    if suspects.empty:
        return
    found = _field_counts(path, sep, suspects.to_numpy(dtype="int64"))
    short = (found > 0) & (found < expected)
    if not short.any():
        return
    if "error" not in frame:
        frame["error"] = pd.Series("", index=frame.index, dtype="str")
    frame["error"] = frame["error"].fillna("").astype("str")
    counts = pd.Series(found[short], index=suspects.index[short])
    # One message object per distinct count, shared by the rows: a garbage file has millions.
    message = f"malformed line: expected {expected} fields, found "
    messages = {n: f"{message}{n}" for n in counts.unique()}
    frame.loc[counts.index, "error"] = counts.map(messages)


def _field_counts(path: Path, sep: str, lines: np.ndarray) -> np.ndarray:
    """How many fields each of these physical lines has (0: not found), read again from the file.

    One pass, one counter per asked line: no set or dict of millions of line numbers.
    """
    order = np.argsort(lines, kind="stable")
    wanted = lines[order]  # numpy, not a list: millions of Python ints would cost 30 B each
    counts = np.zeros(len(lines), dtype="int64")
    position = 0
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            if position == len(wanted):
                break
            if number == wanted[position]:
                counts[position] = len(next(csv.reader([line], delimiter=sep), []))
                position += 1
    found = np.empty_like(counts)
    found[order] = counts
    return found


def _require(frame: pd.DataFrame, path: Path, fmt: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFormatError(f"{path}: not a {fmt} file: missing columns {', '.join(missing)}")


def _fill(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column of strings ("" everywhere when absent or on error rows)."""
    if column not in frame:
        return pd.Series("", index=frame.index, dtype="str")
    values = frame[column]
    return values.where(values.notna(), "").astype("str")


def read_lastfm_to_csv(path: Path) -> ImportResult:
    """`artist,album,track,"DD Mon YYYY HH:MM"` without header; dateless rows are now playing."""
    # Spare columns catch lines with too many fields (pandas would silently drop them).
    spare = [f"_spare{i}" for i in range(4)]
    frame = read_csv_rows(path, header=False, names=["artist", "album", "track", "date", *spare])
    extra = (frame[spare].fillna("") != "").any(axis=1)
    if "error" in frame:
        extra |= frame["error"].fillna("") != ""
    if extra.any():
        frame["error"] = pd.Series("", index=frame.index, dtype="str").mask(
            extra, "malformed line: expected 4 fields"
        )
    mark_short_lines(frame, path, ",", ["artist", "track", "date"])
    frame["date"] = _fill(frame, "date")
    stamps = pd.to_datetime(frame["date"], format=LASTFM_TO_CSV_DATE, errors="coerce", utc=True)
    frame["ts"] = unix_seconds(stamps)
    return finish(frame, "lastfm-to-csv", now_playing_when_dateless=True)


def _whole_seconds(uts: pd.Series) -> pd.Series:
    """The `uts` strings as numbers (NaN where not one); plain ASCII digits take a fast path."""
    if (uts.str.isascii() & uts.str.isdigit()).all():  # what nearly every real export holds
        try:
            return uts.astype("int64")  # 8x faster than to_numeric, same values
        except (ValueError, OverflowError):  # more digits than int64 holds
            pass
    return pd.to_numeric(uts, errors="coerce")


def read_ghan(path: Path) -> ImportResult:
    """lastfm.ghan.nl: `uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid`."""
    frame = read_csv_rows(path)  # every column, so lines with extra fields are caught
    _require(frame, path, "ghan", ["uts", "artist", "track"])
    mark_short_lines(frame, path, ",", ["uts", "artist", "track"])
    uts = _fill(frame, "uts")
    seconds = _whole_seconds(uts)
    utc_time = _fill(frame, "utc_time")
    fallback = seconds.isna() & (utc_time != "")
    if fallback.any():  # a row without `uts` may still carry its readable time
        stamps = pd.to_datetime(utc_time[fallback], format=GHAN_DATE, errors="coerce", utc=True)
        seconds[fallback] = unix_seconds(stamps)
    frame["ts"] = seconds
    frame["date"] = uts.where(uts != "", utc_time)
    return finish(frame, "ghan")


def read_lastfmstats_csv(path: Path) -> ImportResult:
    """lastfmstats.com CSV: `;`-separated, BOM, `Artist;Album;Track;Date#user` (milliseconds)."""
    frame = read_csv_rows(path, sep=";")
    date_columns = [c for c in frame.columns if c.startswith("date")]
    _require(frame, path, "lastfmstats-csv", ["artist", "track"])
    if not date_columns:
        raise InputFormatError(f"{path}: not a lastfmstats-csv file: missing column Date#user")
    mark_short_lines(frame, path, ";", ["artist", "track", date_columns[0]])
    frame["date"] = _fill(frame, date_columns[0])
    frame["ts"] = pd.to_numeric(frame["date"], errors="coerce") / 1000
    return finish(frame, "lastfmstats-csv")


def seed_seconds(dates: pd.Series) -> pd.Series:
    """ISO-8601-like UTC dates (or plain Unix seconds/milliseconds) as float seconds."""
    numeric = pd.to_numeric(dates.where(dates.str.fullmatch(r"\s*\d+\s*"), ""), errors="coerce")
    numeric = numeric.where(numeric < 1e11, numeric / 1000)
    stamps = pd.to_datetime(dates, format="ISO8601", errors="coerce", utc=True)
    return numeric.fillna(unix_seconds(stamps))


def read_seed(path: Path) -> ImportResult:
    """The original analysis's scrobbles.csv: `artist_name,track_name,date` (UTC)."""
    frame = read_csv_rows(path)
    _require(frame, path, "seed", ["artist_name", "track_name", "date"])
    mark_short_lines(frame, path, ",", ["artist_name", "track_name", "date"])
    frame["date"] = _fill(frame, "date")
    frame["artist"] = _fill(frame, "artist_name")
    frame["track"] = _fill(frame, "track_name")
    frame["album"] = _fill(frame, "album_name" if "album_name" in frame else "album")
    frame["ts"] = seed_seconds(frame["date"])
    return finish(frame, "seed")
