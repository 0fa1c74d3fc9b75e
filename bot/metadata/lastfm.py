"""Last.fm artist.getInfo / artist.getTopTags answers as our metadata payload."""

from __future__ import annotations

import html
import re
from typing import Any

from bot.lastfm.client import LastfmClient
from bot.metadata import clean
from bot.metadata.clean import MalformedMetadata

MAX_TAGS = 5
SUMMARY_CHARS = 200
BIO_CHARS_READ = 20_000  # a one-line summary needs no more of a bio, however long it is
_TAG = re.compile(r"<[^>]+>")
_READ_MORE = re.compile(r"<a [^>]*>\s*Read more on Last\.fm\s*</a>\.?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_IGNORED_TAGS = {"seen live", "favorites", "favourite", "favorite", "my favorite"}


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedMetadata(f"{field} is a {type(value).__name__}, not an object")
    return value


def one_line_summary(bio: str) -> str | None:
    """The first sentence of a Last.fm bio summary, without markup, at most 200 characters."""
    text = html.unescape(_TAG.sub("", _READ_MORE.sub("", bio or ""))).strip()
    text = " ".join(text.split())
    if not text:
        return None
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    return first if len(first) <= SUMMARY_CHARS else first[: SUMMARY_CHARS - 1].rstrip() + "…"


def _tag_names(tags: Any) -> list[str]:
    items = tags.get("tag", []) if isinstance(tags, dict) else []
    if isinstance(items, dict):  # a single tag is an object, not a list
        items = [items]
    names = (
        [item.get("name") for item in items if isinstance(item, dict)]
        if isinstance(items, list)
        else []
    )
    tags = clean.tag_list(names[: clean.MAX_ITEMS_READ], "tags")
    return [tag for tag in tags if tag not in _IGNORED_TAGS][:MAX_TAGS]


def parse_info(payload: dict[str, Any]) -> dict[str, Any]:
    """name, url, listeners, summary and tags of an artist.getInfo body, typed and capped.

    Raises MalformedMetadata for wrong types or impossible numbers.
    """
    artist = payload.get("artist")
    if not isinstance(artist, dict) or not isinstance(artist.get("name"), str):
        raise MalformedMetadata("artist.getInfo answered without an artist name")
    stats, bio = _object(artist.get("stats"), "stats"), _object(artist.get("bio"), "bio")
    summary = bio.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise MalformedMetadata(f"bio.summary is a {type(summary).__name__}, not text")
    return clean.lastfm_payload(
        {
            "name": artist["name"],
            "url": artist.get("url"),
            "listeners": stats.get("listeners"),
            "summary": one_line_summary((summary or "")[:BIO_CHARS_READ]),
            "tags": _tag_names(artist.get("tags")),
        }
    )


def parse_top_tags(payload: dict[str, Any]) -> list[str]:
    """Tag names of an artist.getTopTags body, most applied first."""
    return _tag_names(payload.get("toptags"))


async def fetch_lastfm(client: LastfmClient, name: str) -> dict[str, Any] | None:
    """Metadata of `name` from Last.fm (two requests); None when Last.fm has no such artist.

    Raises LastfmError when Last.fm fails or rate-limits, MalformedMetadata when it answers
    something no artist has (wrong types, numbers beyond any real one).
    """
    try:
        info_body = await client.artist_method("artist.getInfo", name)
        if not info_body:
            return None
        info = parse_info(info_body)
        tags_body = await client.artist_method("artist.getTopTags", name)
    except MalformedMetadata:
        raise
    except ValueError as exc:  # e.g. a JSON number of thousands of digits
        raise MalformedMetadata(f"unreadable answer ({str(exc)[:80]})") from None
    top = parse_top_tags(tags_body) if tags_body else []
    if top:
        info["tags"] = top
    return info
