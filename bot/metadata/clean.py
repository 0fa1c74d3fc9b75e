"""Typed and capped metadata: what a third party says is checked at the door, and again on read.

Wrong types or impossible numbers make the whole answer malformed ("no metadata" for that
artist, one log line, nothing cached); over-long strings and lists are cut. The limits follow
Last.fm's own (a tag is at most 64 characters, a URL fits 512).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

MAX_NAME_CHARS = 1024
MAX_TAG_CHARS = 64
MAX_TAGS = 10
MAX_SUMMARY_CHARS = 1000
MAX_URL_CHARS = 512
MAX_LISTENERS = 10_000_000_000  # Last.fm's biggest artists have about 10 million
MAX_ITEMS_READ = 200  # list entries looked at, however long the list
MAX_DIGITS = 12


class MalformedMetadata(ValueError):
    """A source answered something of the wrong type or beyond any real value."""


def text(value: Any, limit: int, field: str) -> str | None:
    """A string cut to `limit` characters (None stays None); any other type is malformed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedMetadata(f"{field} is a {type(value).__name__}, not text")
    cut = " ".join(value[: limit * 2].split())
    return cut if len(cut) <= limit else cut[: limit - 1].rstrip() + "…"


def count(value: Any, high: int, field: str, *, text_ok: bool = True) -> int | None:
    """A whole number 0..high from an int or (`text_ok`: Last.fm sends them) a digit string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str) if text_ok else int):
        raise MalformedMetadata(f"{field} is a {type(value).__name__}, not a number")
    if isinstance(value, str):
        digits = value.strip()
        if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_DIGITS:
            raise MalformedMetadata(f"{field} is not a number of at most {MAX_DIGITS} digits")
        value = int(digits)
    if not 0 <= value <= high:
        raise MalformedMetadata(f"{field} is outside 0..{high:,}")
    return value


def web_url(value: Any, field: str) -> str | None:
    """An http(s) URL of at most 512 characters; anything else typed as text is dropped."""
    if text(value, MAX_URL_CHARS * 2, field) is None:
        return None
    if len(value) > MAX_URL_CHARS or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def tag_list(values: Any, field: str) -> list[str]:
    """Distinct lower-case tags, each cut to 64 characters, at most 10; junk entries skipped."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise MalformedMetadata(f"{field} is a {type(values).__name__}, not a list")
    out: list[str] = []
    for value in values[:MAX_ITEMS_READ]:
        tag = " ".join(value[: MAX_TAG_CHARS * 2].split()).lower() if isinstance(value, str) else ""
        tag = tag[:MAX_TAG_CHARS]
        if tag and tag not in out:
            out.append(tag)
    return out[:MAX_TAGS]


def lastfm_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The cached Last.fm payload with every field typed and capped."""
    return {
        "name": text(payload.get("name"), MAX_NAME_CHARS, "name"),
        "url": web_url(payload.get("url"), "url"),
        "listeners": count(payload.get("listeners"), MAX_LISTENERS, "listeners"),
        "summary": text(payload.get("summary"), MAX_SUMMARY_CHARS, "summary"),
        "tags": tag_list(payload.get("tags"), "tags"),
    }


def spotify_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The cached Spotify payload with every field typed and capped."""
    return {
        "name": text(payload.get("name"), MAX_NAME_CHARS, "name"),
        "genres": tag_list(payload.get("genres"), "genres"),
        "popularity": count(payload.get("popularity"), 100, "popularity", text_ok=False),
        "image_url": web_url(payload.get("image_url"), "image_url"),
        "url": web_url(payload.get("url"), "url"),
    }
