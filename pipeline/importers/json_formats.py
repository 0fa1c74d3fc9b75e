"""JSON history formats: lastfmstats.com JSON and ListenBrainz exports (ZIP, JSON array, JSONL)."""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import InputFormatError
from pipeline.importers.base import ImportResult, finish, unix_seconds

ZIP_MAGIC = b"PK\x03\x04"
# listens/YYYY/M.jsonl, possibly under one top-level folder if the user re-zipped it.
_LISTENS_MEMBER = re.compile(r"(?:^|/)listens/(\d{4})/(\d{1,2})\.jsonl$")
_FIELDS = ["line", "date", "artist", "track", "album", "artist_mbid", "track_mbid", "album_mbid"]
# Uncompressed size above which a ZIP member is refused before it is read.
DEFAULT_MAX_MEMBER_BYTES = 512 * 1024 * 1024
_JSON_TYPES = {dict: "an object", list: "a list", bool: "true/false", int: "a number"}
_JSON_TYPES |= {float: "a number", str: "text"}


def _kind(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def type_error(date: Any, names: dict[str, Any]) -> str:
    """Why a record's values have the wrong JSON types ("" when they are fine).

    A date is a number or text (never true/false); names and mbids are text or null.
    """
    if isinstance(date, bool) or not isinstance(date, int | float | str | None):
        return f"date is {_kind(date)}, not a number"
    for field, value in names.items():
        if value is not None and not isinstance(value, str):
            return f"{field} is {_kind(value)}, not text"
    return ""


def _load_json(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputFormatError(
            f"{path}: truncated or invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError:
        raise InputFormatError(f"{path}: not UTF-8 text") from None
    except RecursionError:
        raise InputFormatError(f"{path}: JSON nested too deeply to be a history") from None


def _raw_frame(columns: dict[str, list[Any]], errors: list[str]) -> pd.DataFrame:
    """Raw rows from column lists; `date` keeps the original value for numeric parsing."""
    frame = pd.DataFrame(
        {name: pd.Series(values, dtype=object) for name, values in columns.items()}
    )
    frame["line"] = frame["line"].astype("int64")
    frame["error"] = pd.Series(errors, dtype=object)
    return frame


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _seconds(raw_dates: pd.Series, divisor: float = 1.0) -> pd.Series:
    """Numbers (or numeric strings) as seconds; ISO-8601 strings as a fallback."""
    seconds = pd.to_numeric(raw_dates, errors="coerce") / divisor
    missing = seconds.isna() & raw_dates.map(lambda v: isinstance(v, str) and v.strip() != "")
    if missing.any():
        stamps = pd.to_datetime(
            raw_dates[missing].astype(str), format="ISO8601", errors="coerce", utc=True
        )
        seconds[missing] = unix_seconds(stamps)
    return seconds


def _date_text(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if v is None else str(v)).astype("str")


def read_lastfmstats_json(path: Path) -> ImportResult:
    """lastfmstats.com JSON: `{"username", "scrobbles": [{track, artist, album, date (ms)}]}`."""
    document = _load_json(path)
    scrobbles = document.get("scrobbles") if isinstance(document, dict) else None
    if not isinstance(scrobbles, list):
        raise InputFormatError(f'{path}: not a lastfmstats JSON file: no "scrobbles" list')
    columns: dict[str, list[Any]] = {name: [] for name in _FIELDS}
    errors = []
    for number, item in enumerate(scrobbles, start=1):
        record = item if isinstance(item, dict) else {}
        columns["line"].append(number)
        columns["date"].append(record.get("date"))
        columns["artist"].append(record.get("artist"))
        columns["track"].append(record.get("track"))
        columns["album"].append(record.get("album"))
        for name in ("artist_mbid", "track_mbid", "album_mbid"):
            columns[name].append(None)
        names = {k: record.get(k) for k in ("artist", "track", "album")}
        wrong = type_error(record.get("date"), names)
        errors.append(wrong if isinstance(item, dict) else "not a scrobble object")
    frame = _raw_frame(columns, errors)
    frame["date"] = frame["date"].where(frame["error"] == "", None)
    frame["ts"] = _seconds(frame["date"], divisor=1000)
    frame["date"] = _date_text(frame["date"])
    return finish(frame, "lastfmstats-json", location="record")


def _listen_fields(listen: Any) -> tuple[Any, ...] | None:
    """(listened_at, artist, track, album, artist_mbid, track_mbid, album_mbid) of a listen."""
    if not isinstance(listen, dict):
        return None
    meta = listen.get("track_metadata")
    if not isinstance(meta, dict):
        return None
    info = meta.get("additional_info") or {}
    mapping = meta.get("mbid_mapping") or {}
    if not isinstance(info, dict) or not isinstance(mapping, dict):
        return None
    return (
        listen.get("listened_at"),
        meta.get("artist_name"),
        meta.get("track_name"),
        meta.get("release_name"),
        _first(info.get("artist_mbids")) or _first(mapping.get("artist_mbids")),
        info.get("recording_mbid") or mapping.get("recording_mbid"),
        info.get("release_mbid") or mapping.get("release_mbid"),
    )


_LISTEN_NAMES = [
    "artist_name",
    "track_name",
    "release_name",
    "artist_mbids",
    "recording_mbid",
    "release_mbid",
]


def _collect(listens: Iterable[tuple[int, str, Any]]) -> pd.DataFrame:
    """Raw rows from (line, source, listen-or-error-text) triples."""
    columns: dict[str, list[Any]] = {name: [] for name in _FIELDS}
    errors: list[str] = []
    sources: list[str] = []
    empty = (None,) * 7
    for line, source, listen in listens:
        if isinstance(listen, str):  # an error found while reading the line
            fields, error = empty, listen
        elif (found := _listen_fields(listen)) is None:
            fields, error = empty, "not a listen (no track_metadata)"
        elif wrong := type_error(found[0], dict(zip(_LISTEN_NAMES, found[1:], strict=True))):
            fields, error = empty, wrong
        else:
            fields, error = found, ""
        columns["line"].append(line)
        for name, value in zip(_FIELDS[1:], fields, strict=True):
            columns[name].append(value)
        errors.append(error)
        sources.append(source)
    frame = _raw_frame(columns, errors)
    frame["src"] = pd.Series(sources, dtype=object)
    frame["ts"] = _seconds(frame["date"])
    frame["date"] = _date_text(frame["date"])
    return frame


def _jsonl(lines: Iterable[bytes], source: str) -> Iterator[tuple[int, str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, source, json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield number, source, f"invalid JSON: {getattr(exc, 'msg', exc)}"
        except RecursionError:
            yield number, source, "invalid JSON: nested too deeply"


def _zip_listens(path: Path, max_member_bytes: int) -> Iterator[tuple[int, str, Any]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputFormatError(f"{path}: damaged or unreadable ZIP file") from None
    with archive:
        members = []
        for name in archive.namelist():
            match = _LISTENS_MEMBER.search(name)
            if match:
                members.append(((int(match[1]), int(match[2])), name))
        if not members:
            raise InputFormatError(
                f"{path}: ZIP has no listens/YYYY/M.jsonl files (not a ListenBrainz export)"
            )
        _check_sizes(path, archive, [name for _, name in members], max_member_bytes)
        for _, name in sorted(members):
            try:
                with archive.open(name) as member:
                    yield from _jsonl(member, name)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputFormatError(f"{path}: damaged ZIP member {name}: {detail}") from None


MIB = 1024 * 1024  # BREAKOUT_MAX_ZIP_MEMBER_MB counts these


def _check_sizes(path: Path, archive: zipfile.ZipFile, names: list[str], limit: int) -> None:
    """Refuse members whose declared uncompressed size exceeds `limit` (reads stop there)."""
    for name in names:
        size = archive.getinfo(name).file_size
        if size > limit:
            raise InputFormatError(
                f"{path}: ZIP member {name} expands to {size / MIB:,.0f} MiB, over the "
                f"{limit / MIB:,.0f} MiB limit (BREAKOUT_MAX_ZIP_MEMBER_MB)"
            )


def read_listenbrainz(path: Path, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES) -> ImportResult:
    """ListenBrainz export: ZIP of listens/YYYY/M.jsonl, a JSON array of listens, or JSONL."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(ZIP_MAGIC):
        return finish(_collect(_zip_listens(path, max_member_bytes)), "listenbrainz")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        listens = _load_json(path)
        return finish(
            _collect((n, "", item) for n, item in enumerate(listens, start=1)),
            "listenbrainz",
            location="record",
        )
    if stripped.startswith(b"{"):
        if _first_line_is_listen(path):
            with path.open("rb") as handle:
                return finish(_collect(_jsonl(handle, "")), "listenbrainz")
        document = _load_json(path)  # the API's {"payload": {"listens": [...]}}
        payload = document.get("payload") if isinstance(document, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("listens"), list):
            items = enumerate(payload["listens"], start=1)
            frame = _collect((n, "", item) for n, item in items)
            return finish(frame, "listenbrainz", location="record")
    raise InputFormatError(f"{path}: not a ListenBrainz export (expected a ZIP, JSON or JSONL)")


def _first_line_is_listen(path: Path) -> bool:
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                    return False
                return isinstance(first, dict) and "listened_at" in first
    return False


def zip_has_listens(path: Path) -> bool:
    """Whether a ZIP file contains ListenBrainz listens files."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(_LISTENS_MEMBER.search(name) for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
