"""Format detection and the `read_history` entry point."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import InputFormatError
from pipeline.importers.base import READ_NOW, ImportResult, require_valid
from pipeline.importers.csv_formats import (
    read_ghan,
    read_lastfm_to_csv,
    read_lastfmstats_csv,
    read_seed,
)
from pipeline.importers.json_formats import (
    ZIP_MAGIC,
    read_lastfmstats_json,
    read_listenbrainz,
    zip_has_listens,
)

READERS: dict[str, Callable[[Path], ImportResult]] = {
    "lastfm-to-csv": read_lastfm_to_csv,
    "ghan": read_ghan,
    "lastfmstats-json": read_lastfmstats_json,
    "lastfmstats-csv": read_lastfmstats_csv,
    "listenbrainz": read_listenbrainz,
    "seed": read_seed,
}
FORMATS: tuple[str, ...] = tuple(READERS)
HEAD_BYTES = 64 * 1024
_LASTFM_DATE = re.compile(r"\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}")


def _head(path: Path) -> bytes:
    """The first bytes of the file; unreadable paths raise InputFormatError."""
    try:
        with path.open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except FileNotFoundError:
        raise InputFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFormatError(f"{path}: is a directory, not a history file") from None
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _head_lines(head: bytes) -> list[str]:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines = text.splitlines()
    if len(head) == HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    return [line for line in lines if line.strip()]


def _csv_format(lines: list[str]) -> str | None:
    first = lines[0]
    header = [cell.strip().strip('"').lower() for cell in next(csv.reader([first]))]
    if header[:3] == ["uts", "utc_time", "artist"] or {"uts", "artist", "track"} <= set(header):
        return "ghan"
    if {"artist_name", "track_name", "date"} <= set(header):
        return "seed"
    cells = [cell.strip().strip('"').lower() for cell in first.split(";")]
    if "artist" in cells and "track" in cells and any(c.startswith("date") for c in cells):
        return "lastfmstats-csv"
    rows = list(csv.reader(lines[:50]))
    four = [row for row in rows if len(row) == 4]
    if len(four) >= 0.8 * len(rows) and any(_LASTFM_DATE.fullmatch(r[3].strip()) for r in four):
        return "lastfm-to-csv"
    return None


def _readable_head(path: Path) -> bytes:
    """The head of a readable, non-empty, non-binary file (ZIP archives allowed)."""
    head = _head(path)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputFormatError(f"{path}: file is empty")
    if head.startswith(ZIP_MAGIC):
        return head
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFormatError(f"{path}: UTF-16 text is not supported; save the file as UTF-8")
    if b"\x00" in head:
        raise InputFormatError(f"{path}: binary file, not a listening history")
    return head


def detect_format(path: Path) -> str:
    """Name of the history format of `path` (one of FORMATS); InputFormatError if unknown."""
    head = _readable_head(path)
    if head.startswith(ZIP_MAGIC):
        if zip_has_listens(path):
            return "listenbrainz"
        raise InputFormatError(
            f"{path}: ZIP has no listens/YYYY/M.jsonl files (not a ListenBrainz export)"
        )
    lines = _head_lines(head)
    if not lines:
        raise InputFormatError(f"{path}: no text lines (only blanks or control characters)")
    start = lines[0].lstrip()
    if start.startswith("["):
        return "listenbrainz"
    if start.startswith("{"):
        sample = "\n".join(lines)
        if '"listened_at"' in sample or '"payload"' in sample:
            return "listenbrainz"
        if '"scrobbles"' in sample:
            return "lastfmstats-json"
        raise InputFormatError(f"{path}: unknown JSON layout; use --format to choose one")
    found = _csv_format(lines)
    if found is None:
        shown = lines[0][:80]
        raise InputFormatError(
            f"{path}: unknown format (first line {shown!r}); use --format to choose one"
        )
    return found


def read_history(
    path: str | Path,
    fmt: str = "auto",
    *,
    max_zip_member_bytes: int | None = None,
    now: float | None = None,
) -> ImportResult:
    """Parse a listening-history file into the scrobbles frame (pure: no database).

    `now` (Unix seconds; default the system clock) bounds plausible times.
    """
    token = READ_NOW.set(now)
    try:
        return _read_history(Path(path), fmt, max_zip_member_bytes)
    finally:
        READ_NOW.reset(token)


def _read_history(path: Path, fmt: str, max_zip_member_bytes: int | None) -> ImportResult:
    if fmt != "auto" and fmt not in READERS:
        raise InputFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    elif _readable_head(path).startswith(ZIP_MAGIC) and fmt != "listenbrainz":
        raise InputFormatError(f"{path}: a ZIP file cannot be read as {fmt}")
    if fmt == "listenbrainz" and max_zip_member_bytes is not None:
        return require_valid(read_listenbrainz(path, max_zip_member_bytes), path)
    return require_valid(READERS[fmt](path), path)
