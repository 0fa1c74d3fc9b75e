"""Artist metadata against strict fakes of Last.fm and Spotify on 127.0.0.1, cached in SQLite."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models import Artist, ArtistMetadata
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.lastfm.client import LastfmClient
from bot.metadata.fetcher import MetadataFetcher, make_fetcher
from bot.metadata.lastfm import one_line_summary
from bot.metadata.spotify import SpotifyClient
from bot.services.metadata import (
    ArtistMeta,
    cached_metadata,
    metadata_for,
    prefetch_candidates,
    render_meta_line,
)
from bot.services.queries import current_candidates
from tests.bot_harness import DB_NAME, copy_seeded
from tests.fakes.lastfm_server import FakeArtist, FakeLastfm
from tests.fakes.spotify_server import FakeSpotify, FakeSpotifyArtist

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SLOWDIVE = FakeArtist(
    "Slowdive",
    tags=("shoegaze", "dream pop", "seen live", "alternative"),
    listeners=41_873,
    summary="Slowdive are an English rock band formed in Reading in 1989. They split in 1995.",
)


async def _artists(db: Database, *names: str) -> dict[str, int]:
    frame = pd.DataFrame(
        {
            "ts": [1_700_000_000 + i for i in range(len(names))],
            "artist": list(names),
            "track": ["t"] * len(names),
            "album": [""] * len(names),
            "artist_mbid": [""] * len(names),
            "track_mbid": [""] * len(names),
            "album_mbid": [""] * len(names),
        }
    )
    async with db.sessions() as session, session.begin():
        await store_scrobbles(session, frame)
    async with db.sessions() as session:
        return dict((await session.execute(select(Artist.name, Artist.id))).all())


def _lastfm(http: httpx.AsyncClient, fake: FakeLastfm) -> LastfmClient:
    return LastfmClient(http, fake.url, fake.api_key, rate=50.0)


def _artist_calls(fake: FakeLastfm) -> int:
    return sum(r.params.get("method", "").startswith("artist.") for r in fake.requests)


async def test_lastfm_metadata_is_fetched_cached_and_rendered(db: Database) -> None:
    ids = await _artists(db, "Slowdive", "Nobody Knows Them")
    with FakeLastfm() as fake:
        fake.add_artist(SLOWDIVE)
        async with httpx.AsyncClient() as http:
            fetcher = MetadataFetcher(_lastfm(http, fake))
            async with db.sessions() as session:
                metas = await metadata_for(session, list(ids.values()), fetcher, now=NOW)
            meta = metas[ids["Slowdive"]]
            assert ids["Nobody Knows Them"] not in metas  # unknown artist: no metadata
            assert meta.tags == ["shoegaze", "dream pop", "alternative"]  # "seen live" dropped
            assert meta.listeners == 41_873
            assert meta.summary == "Slowdive are an English rock band formed in Reading in 1989."
            assert meta.url == "https://www.last.fm/music/Slowdive"
            assert render_meta_line(meta) == "shoegaze · dream pop · alternative · 41k listeners"
            calls = _artist_calls(fake)
            assert calls == 3  # getInfo + getTopTags for Slowdive, getInfo for the unknown one
            # fresh cache (the unknown artist too): no request at all
            async with db.sessions() as session:
                again = await metadata_for(session, list(ids.values()), fetcher, now=NOW)
            assert again[ids["Slowdive"]].tags == meta.tags
            assert _artist_calls(fake) == calls
            # older than the refresh age: asked again
            later = NOW + timedelta(days=31)
            async with db.sessions() as session:
                await metadata_for(session, [ids["Slowdive"]], fetcher, now=later)
            assert _artist_calls(fake) == calls + 2
    async with db.sessions() as session:
        cached = await cached_metadata(session, list(ids.values()))
        statuses = dict(
            (await session.execute(select(ArtistMetadata.artist_id, ArtistMetadata.status))).all()
        )
    assert set(cached) == {ids["Slowdive"]}  # read back without any server
    assert statuses == {ids["Slowdive"]: "ok", ids["Nobody Knows Them"]: "unknown"}


async def test_rate_limited_lastfm_means_no_metadata_logged_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _artists(db, "Slowdive", "Ride")
    caplog.set_level(logging.INFO)
    with FakeLastfm() as fake:
        fake.add_artist(SLOWDIVE)
        fake.inject("rate_limit", times=None)
        async with httpx.AsyncClient() as http:
            fetcher = MetadataFetcher(_lastfm(http, fake))
            for _ in range(2):
                async with db.sessions() as session:
                    assert await metadata_for(session, list(ids.values()), fetcher) == {}
            assert _artist_calls(fake) == 1  # the source paused after its first failure
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "lastfm metadata unavailable" in warnings[0].getMessage()
    assert not any(fake.api_key in r.getMessage() for r in ours)
    async with db.sessions() as session:  # failures are not cached: retried after the pause
        assert (await session.execute(select(ArtistMetadata))).first() is None


async def test_a_hanging_source_costs_at_most_the_budget(db: Database) -> None:
    ids = await _artists(db, "Slowdive")
    with FakeLastfm() as fake:
        fake.add_artist(SLOWDIVE)
        fake.inject("hold", times=None)
        async with httpx.AsyncClient() as http:
            fetcher = MetadataFetcher(_lastfm(http, fake))
            started = time.monotonic()
            async with db.sessions() as session:
                metas = await metadata_for(session, list(ids.values()), fetcher, budget=0.5)
            assert time.monotonic() - started < 3.0
            assert metas == {}
            fake.release()


async def test_spotify_adds_genres_popularity_image(db: Database) -> None:
    ids = await _artists(db, "Slowdive", "Ride")
    spotify_artists = [
        FakeSpotifyArtist("Slowdive Tribute Band", ("covers",), 3),
        FakeSpotifyArtist("Slowdive", ("shoegaze", "dreamgaze"), 61, "https://i.scdn.co/s.jpg"),
    ]
    with FakeLastfm() as fake, FakeSpotify(artists=spotify_artists) as spotify:
        fake.add_artist(SLOWDIVE)
        settings = Settings(
            LASTFM_API_KEY=fake.api_key,
            LASTFM_API_URL=fake.url,
            SPOTIFY_CLIENT_ID=spotify.client_id,
            SPOTIFY_CLIENT_SECRET=spotify.client_secret,
            SPOTIFY_API_URL=spotify.api_url,
            SPOTIFY_TOKEN_URL=spotify.token_url,
        )
        async with httpx.AsyncClient() as http:
            fetcher = make_fetcher(settings, http)
            assert fetcher is not None and fetcher.sources == ["lastfm", "spotify"]
            async with db.sessions() as session:
                metas = await metadata_for(session, list(ids.values()), fetcher, now=NOW)
            spotify.inject("expire_tokens")  # a refused token is renewed once, transparently
            client = SpotifyClient(
                http,
                spotify.client_id,
                spotify.client_secret,
                api_url=spotify.api_url,
                token_url=spotify.token_url,
            )
            assert (await client.artist("slowdive"))["popularity"] == 61
            client._token = "revoked"
            assert (await client.artist("Slowdive"))["genres"] == ["shoegaze", "dreamgaze"]
    meta = metas[ids["Slowdive"]]
    assert meta.genres == ["shoegaze", "dreamgaze"] and meta.popularity == 61
    assert meta.image_url == "https://i.scdn.co/s.jpg"
    assert meta.spotify_url and meta.spotify_url.startswith("https://open.spotify.com/artist/")
    assert meta.tags[:2] == ["shoegaze", "dream pop"]  # Last.fm's part is still there
    assert ids["Ride"] not in metas  # neither source knows it


async def test_wrong_spotify_secret_leaves_lastfm_working(db: Database) -> None:
    ids = await _artists(db, "Slowdive")
    with FakeLastfm() as fake, FakeSpotify() as spotify:
        fake.add_artist(SLOWDIVE)
        async with httpx.AsyncClient() as http:
            bad = SpotifyClient(
                http,
                spotify.client_id,
                "wrong",
                token_url=spotify.token_url,
                api_url=spotify.api_url,
            )
            fetcher = MetadataFetcher(_lastfm(http, fake), bad)
            async with db.sessions() as session:
                metas = await metadata_for(session, list(ids.values()), fetcher)
    assert metas[ids["Slowdive"]].listeners == 41_873
    assert metas[ids["Slowdive"]].genres == []


def test_no_credentials_no_fetcher() -> None:
    assert make_fetcher(Settings(), httpx.AsyncClient()) is None
    assert not Settings(SPOTIFY_CLIENT_ID="x").spotify_enabled


def test_the_max_age_setting_reaches_the_fetcher() -> None:
    settings = Settings(LASTFM_API_KEY="k" * 32, BREAKOUT_METADATA_MAX_AGE_DAYS=7)
    fetcher = make_fetcher(settings, httpx.AsyncClient())
    assert fetcher is not None and fetcher.max_age == timedelta(days=7)


def test_summary_and_meta_line() -> None:
    bio = 'Ichiko Aoba (青葉市子) is a Japanese singer. More. <a href="x">Read more on Last.fm</a>'
    assert one_line_summary(bio) == "Ichiko Aoba (青葉市子) is a Japanese singer."
    assert one_line_summary(" <a href='x'>Read more on Last.fm</a>") is None
    assert len(one_line_summary("word " * 100) or "") == 200
    meta = ArtistMeta(1, NOW, tags=[], listeners=1_250_000, genres=["art pop"])
    assert render_meta_line(meta) == "art pop · 1.2M listeners"
    assert render_meta_line(ArtistMeta(1, NOW, listeners=850)) == "850 listeners"
    assert render_meta_line(None) == ""


@pytest.mark.slow
async def test_prefetch_asks_for_candidates_only(seeded: Path, tmp_path: Path) -> None:
    data_dir = copy_seeded(seeded, tmp_path / "data")
    db = Database(f"sqlite+aiosqlite:///{data_dir / DB_NAME}")
    try:
        async with db.sessions() as session:
            listed = await current_candidates(session, 5)
            artists = (await session.execute(select(func.count(Artist.id)))).scalar_one()
        assert 0 < len(listed) < artists
        with FakeLastfm() as fake:
            for c in listed[:3]:
                fake.add_artist(FakeArtist(c.artist, ("indie",), 1200))
            async with httpx.AsyncClient() as http:
                fetcher = MetadataFetcher(_lastfm(http, fake))
                async with db.sessions() as session:
                    assert await prefetch_candidates(session, fetcher, limit=5) == 3
            asked = {r.params["artist"] for r in fake.requests}
        assert asked == {c.artist for c in listed}  # the candidates, not the history
        async with db.sessions() as session:
            cached = await cached_metadata(session, [c.artist_id for c in listed])
        assert render_meta_line(cached[listed[0].artist_id]) == "indie · 1k listeners"
    finally:
        await db.close()
