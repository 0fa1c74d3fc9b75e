"""Last.fm artist.getInfo / artist.getTopTags answers as our metadata payload."""

from __future__ import annotations

import html
import re
from typing import Any

from bot.lastfm.client import LastfmClient

MAX_TAGS = 5
SUMMARY_CHARS = 200
_TAG = re.compile(r"<[^>]+>")
_READ_MORE = re.compile(r"<a [^>]*>\s*Read more on Last\.fm\s*</a>\.?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_IGNORED_TAGS = {"seen live", "favorites", "favourite", "favorite", "my favorite"}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


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
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        name = item.get("name") if isinstance(item, dict) else None
        tag = " ".join(name.split()).lower() if isinstance(name, str) else ""
        if tag and tag not in _IGNORED_TAGS and tag not in names:
            names.append(tag)
    return names[:MAX_TAGS]


def parse_info(payload: dict[str, Any]) -> dict[str, Any] | None:
    """name, url, listeners, summary and tags of an artist.getInfo body; None when malformed."""
    artist = payload.get("artist")
    if not isinstance(artist, dict) or not isinstance(artist.get("name"), str):
        return None
    stats = artist.get("stats") if isinstance(artist.get("stats"), dict) else {}
    bio = artist.get("bio") if isinstance(artist.get("bio"), dict) else {}
    url = artist.get("url")
    return {
        "name": artist["name"],
        "url": url if isinstance(url, str) and url.startswith("https://") else None,
        "listeners": _int(stats.get("listeners")),
        "summary": one_line_summary(bio.get("summary", "") if isinstance(bio, dict) else ""),
        "tags": _tag_names(artist.get("tags")),
    }


def parse_top_tags(payload: dict[str, Any]) -> list[str]:
    """Tag names of an artist.getTopTags body, most applied first."""
    return _tag_names(payload.get("toptags"))


async def fetch_lastfm(client: LastfmClient, name: str) -> dict[str, Any] | None:
    """Metadata of `name` from Last.fm (two requests); None when Last.fm has no such artist.

    Raises LastfmError when Last.fm fails or rate-limits.
    """
    info_body = await client.artist_method("artist.getInfo", name)
    info = parse_info(info_body) if info_body else None
    if info is None:
        return None
    tags_body = await client.artist_method("artist.getTopTags", name)
    top = parse_top_tags(tags_body) if tags_body else []
    if top:
        info["tags"] = top
    return info
