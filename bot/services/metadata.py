"""Cached artist metadata for cards and the API: read, refresh when stale, one-line render."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Artist, ArtistMetadata
from bot.metadata import clean
from bot.metadata.clean import MalformedMetadata
from bot.metadata.fetcher import LASTFM, SPOTIFY, Fetched, MetadataFetcher
from bot.services.queries import current_candidates
from bot.timeutil import as_utc, utc_now

log = logging.getLogger(__name__)

FETCH_BUDGET_SECONDS = 5.0
CARD_TAGS = 3


@dataclass(frozen=True)
class ArtistMeta:
    """What Last.fm (and Spotify) say about an artist; absent fields are None or empty."""

    artist_id: int
    fetched_at: datetime  # of the oldest source row
    tags: list[str] = field(default_factory=list)
    listeners: int | None = None
    summary: str | None = None
    url: str | None = None
    genres: list[str] = field(default_factory=list)
    popularity: int | None = None
    image_url: str | None = None
    spotify_url: str | None = None

    def to_json(self, now: datetime | None = None) -> dict[str, object]:
        """JSON-ready dict with the cache age in days."""
        age = (now or utc_now()) - self.fetched_at
        return {
            "tags": self.tags,
            "listeners": self.listeners,
            "summary": self.summary,
            "url": self.url,
            "genres": self.genres,
            "popularity": self.popularity,
            "image_url": self.image_url,
            "spotify_url": self.spotify_url,
            "fetched_at": self.fetched_at.isoformat().replace("+00:00", "Z"),
            "age_days": round(age.total_seconds() / 86400, 1),
        }


_CLEAN = {LASTFM: clean.lastfm_payload, SPOTIFY: clean.spotify_payload}


def _payload(row: ArtistMetadata) -> dict | None:
    """A cached payload checked again (it may predate the checks); None when unusable."""
    try:
        payload = json.loads(row.payload_json or "{}")
        if not isinstance(payload, dict) or row.source not in _CLEAN:
            raise MalformedMetadata("not an object of a known source")
        return _CLEAN[row.source](payload)
    except ValueError as exc:  # MalformedMetadata, or JSON beyond Python's limits
        log.warning("cached %s metadata of artist %d ignored: %s", row.source, row.artist_id, exc)
        return None


def _assemble(artist_id: int, rows: list[ArtistMetadata]) -> ArtistMeta | None:
    """One ArtistMeta from the "ok" rows of an artist; None when no source knows it."""
    usable = [(r, _payload(r)) for r in rows if r.status == "ok"]
    ok = {r.source: payload for r, payload in usable if payload is not None}
    if not ok:
        return None
    lastfm, spotify = ok.get(LASTFM, {}), ok.get(SPOTIFY, {})
    return ArtistMeta(
        artist_id=artist_id,
        fetched_at=min(as_utc(r.fetched_at) for r, payload in usable if payload is not None),
        tags=list(lastfm.get("tags") or []),
        listeners=lastfm.get("listeners"),
        summary=lastfm.get("summary"),
        url=lastfm.get("url"),
        genres=list(spotify.get("genres") or []),
        popularity=spotify.get("popularity"),
        image_url=spotify.get("image_url"),
        spotify_url=spotify.get("url"),
    )


async def _rows(session: AsyncSession, artist_ids: list[int]) -> dict[int, list[ArtistMetadata]]:
    out: dict[int, list[ArtistMetadata]] = {}
    if not artist_ids:
        return out
    result = await session.execute(
        select(ArtistMetadata).where(ArtistMetadata.artist_id.in_(artist_ids))
    )
    for row in result.scalars():
        out.setdefault(row.artist_id, []).append(row)
    return out


async def cached_metadata(session: AsyncSession, artist_ids: list[int]) -> dict[int, ArtistMeta]:
    """Metadata already in the database, whatever its age; never touches the network."""
    rows = await _rows(session, list(dict.fromkeys(artist_ids)))
    metas = {a: _assemble(a, r) for a, r in rows.items()}
    return {a: m for a, m in metas.items() if m is not None}


def _stale(
    rows: list[ArtistMetadata], sources: list[str], now: datetime, max_age: timedelta
) -> bool:
    fresh = {r.source for r in rows if now - as_utc(r.fetched_at) < max_age}
    return not set(sources) <= fresh


async def _fetch_all(
    fetcher: MetadataFetcher, names: dict[int, str], budget: float
) -> dict[int, list[Fetched]]:
    """Fetch artist after artist (a failing source pauses at once); stop at the budget."""
    results: dict[int, list[Fetched]] = {}

    async def walk() -> None:
        for artist_id, name in names.items():
            results[artist_id] = await fetcher.fetch(name)

    try:
        await asyncio.wait_for(walk(), timeout=budget)
    except TimeoutError:
        log.info("metadata: %d artists left for later (time budget)", len(names) - len(results))
    return results


async def _store(session: AsyncSession, results: dict[int, list[Fetched]], now: datetime) -> None:
    for artist_id, answers in results.items():
        for answer in answers:
            stmt = insert(ArtistMetadata).values(
                artist_id=artist_id,
                source=answer.source,
                status=answer.status,
                payload_json=json.dumps(answer.payload, ensure_ascii=False),
                fetched_at=now,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["artist_id", "source"],
                    set_={
                        "status": stmt.excluded.status,
                        "payload_json": stmt.excluded.payload_json,
                        "fetched_at": stmt.excluded.fetched_at,
                    },
                )
            )


async def metadata_for(
    session: AsyncSession,
    artist_ids: list[int],
    fetcher: MetadataFetcher | None,
    *,
    max_age: timedelta | None = None,
    budget: float = FETCH_BUDGET_SECONDS,
    now: datetime | None = None,
) -> dict[int, ArtistMeta]:
    """Metadata of these artists, refreshing missing or stale ones within `budget` seconds.

    Stale: older than `max_age`, by default the fetcher's (BREAKOUT_METADATA_MAX_AGE_DAYS).

    Commits what it fetched. Failures, rate limits and unknown artists just leave an artist
    out of the result ("no metadata"); nothing here raises for them.
    """
    ids = list(dict.fromkeys(artist_ids))
    if fetcher is None or not fetcher.sources or not ids:
        return await cached_metadata(session, ids)
    now = now or utc_now()
    rows = await _rows(session, ids)
    max_age = max_age or fetcher.max_age
    stale = [a for a in ids if _stale(rows.get(a, []), fetcher.sources, now, max_age)]
    if stale:
        names = dict(
            (
                await session.execute(select(Artist.id, Artist.name).where(Artist.id.in_(stale)))
            ).all()
        )
        await session.commit()  # no read transaction stays open while the network is asked
        results = await _fetch_all(fetcher, names, budget)
        if results:
            await _store(session, results, now)
            await session.commit()
    return await cached_metadata(session, ids)


def _compact(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if count >= 1_000:
        return f"{count // 1000}k"
    return str(count)


def render_meta_line(meta: ArtistMeta | None) -> str:
    """'shoegaze · dream pop · 41k listeners'; '' when there is nothing to show."""
    if meta is None:
        return ""
    parts = list((meta.tags or meta.genres)[:CARD_TAGS])
    if meta.listeners is not None:
        parts.append(f"{_compact(meta.listeners)} listeners")
    return " · ".join(parts)


async def prefetch_candidates(
    session: AsyncSession,
    fetcher: MetadataFetcher | None,
    limit: int = 50,
    budget: float = 120.0,
) -> int:
    """Refresh metadata of the latest run's candidates (after a rebuild); how many have some."""
    candidates = await current_candidates(session, limit)
    metas = await metadata_for(session, [c.artist_id for c in candidates], fetcher, budget=budget)
    return len(metas)
