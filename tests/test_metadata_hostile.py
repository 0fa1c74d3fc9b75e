"""Hostile artist metadata from the fakes: typed and capped at the door, never cached as valid."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import ArtistMetadata
from bot.db.session import Database
from bot.lastfm.client import LastfmClient
from bot.metadata import clean
from bot.metadata.fetcher import MetadataFetcher
from bot.metadata.spotify import SpotifyClient
from bot.services.metadata import ArtistMeta, cached_metadata, metadata_for, render_meta_line
from tests.api_harness import serving
from tests.bot_harness import copy_seeded, seeded
from tests.fakes.lastfm_server import FakeArtist, FakeLastfm
from tests.fakes.spotify_server import FakeSpotify, FakeSpotifyArtist
from tests.test_api import AUTH, api_settings
from tests.test_metadata import _artists

__all__ = ["seeded"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
MB6 = 6 * 1024 * 1024


@dataclass(frozen=True)
class HostileArtist(FakeArtist):
    """A Last.fm artist whose getInfo answer is patched, or replaced by raw bytes."""

    patch: tuple[tuple[tuple[str, ...], Any], ...] = ()
    raw: bytes = b""

    def info(self) -> dict[str, object]:
        info = super().info()
        for path, value in self.patch:
            node: Any = info
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return info

    def info_body(self) -> bytes:
        return self.raw or super().info_body()


def _raw_info_with_listeners(digits: int) -> bytes:
    body = json.dumps({"artist": FakeArtist("Hostile", ("rock",), 1, "A band.").info()})
    return body.replace('"listeners": "1"', '"listeners": ' + "9" * digits).encode()


MALFORMED = {
    "listeners as a 4,000-digit string": ((("stats", "listeners"), "9" * 4000),),
    "listeners negative": ((("stats", "listeners"), "-5"),),
    "listeners as true": ((("stats", "listeners"), True),),
    "listeners as a float": ((("stats", "listeners"), 1e300),),
    "bio.summary as an object": ((("bio", "summary"), {"html": "<b>x</b>"}),),
    "bio as a list": ((("bio",), ["x"]),),
    "stats as text": ((("stats",), "lots"),),
    "name as a number": ((("name",), 42),),
    "url as an object": ((("url",), {"href": "https://x"}),),
}


async def _fetch(db: Database, fake: FakeLastfm, artist_id: int) -> dict:
    async with httpx.AsyncClient() as http:
        fetcher = MetadataFetcher(LastfmClient(http, fake.url, fake.api_key, rate=50.0))
        async with db.sessions() as session:
            return await metadata_for(session, [artist_id], fetcher, now=NOW)


async def _cached_rows(db: Database, artist_id: int) -> list[ArtistMetadata]:
    async with db.sessions() as session:
        query = select(ArtistMetadata).where(ArtistMetadata.artist_id == artist_id)
        return list((await session.execute(query)).scalars())


@pytest.mark.parametrize("case", [*sorted(MALFORMED), "a 5,000-digit JSON number"])
async def test_malformed_lastfm_answers_are_no_metadata_and_not_cached(
    db: Database, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    ids = await _artists(db, "Hostile")
    if case in MALFORMED:
        artist = HostileArtist("Hostile", ("rock",), 1, "A band.", patch=MALFORMED[case])
    else:
        artist = HostileArtist("Hostile", raw=_raw_info_with_listeners(5000))
    with FakeLastfm() as fake, caplog.at_level(logging.WARNING):
        fake.add_artist(artist)
        metas = await _fetch(db, fake, ids["Hostile"])
        assert metas == {}
        assert await _cached_rows(db, ids["Hostile"]) == []  # asked again next time
        refused = [r for r in caplog.records if "metadata for 'Hostile' refused" in r.message]
        assert len(refused) == 1 and len(refused[0].getMessage().splitlines()) == 1
        again = await _fetch(db, fake, ids["Hostile"])  # not paused: other artists still work
        assert again == {}
        assert sum(r.params.get("method") == "artist.getInfo" for r in fake.requests) == 2


async def test_huge_strings_and_tag_lists_are_cut(db: Database) -> None:
    ids = await _artists(db, "Huge")
    tags = tuple(f"{i} " + "t" * 6000 for i in range(1000))
    artist = HostileArtist(
        "Huge",
        tags,
        41_000,
        "A" * MB6,
        patch=((("url",), "https://www.last.fm/" + "x" * MB6),),
    )
    with FakeLastfm() as fake:
        fake.add_artist(artist)
        metas = await _fetch(db, fake, ids["Huge"])
    meta = metas[ids["Huge"]]
    assert meta.listeners == 41_000 and meta.url is None
    assert 0 < len(meta.tags) <= clean.MAX_TAGS and all(len(t) <= 64 for t in meta.tags)
    assert meta.summary is not None and len(meta.summary) <= 200
    (row,) = await _cached_rows(db, ids["Huge"])
    assert len(row.payload_json) < 5_000
    assert render_meta_line(meta).endswith("41k listeners")


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://x.org/a", "https://", "//evil", "https://a b.org"]
)
def test_only_http_urls_are_kept(url: str) -> None:
    assert clean.web_url(url, "url") is None
    assert clean.web_url("http://www.last.fm/music/A", "url") == "http://www.last.fm/music/A"


async def test_a_bad_value_cached_before_the_checks_is_ignored(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _artists(db, "Old", "Older")
    rows = {
        ids["Old"]: '{"listeners": ' + "9" * 4000 + ', "tags": ["a"]}',
        ids["Older"]: '{"summary": {"html": 1}, "tags": ["b"]}',
    }
    async with db.sessions() as session, session.begin():
        for artist_id, payload in rows.items():
            session.add(
                ArtistMetadata(
                    artist_id=artist_id,
                    source="lastfm",
                    status="ok",
                    payload_json=payload,
                    fetched_at=NOW,
                )
            )
    with caplog.at_level(logging.WARNING):
        async with db.sessions() as session:
            metas = await cached_metadata(session, list(rows))
    assert metas == {}
    assert sum("cached lastfm metadata of artist" in r.message for r in caplog.records) == 2


@dataclass(frozen=True)
class HostileSpotifyArtist(FakeSpotifyArtist):
    patch: tuple[tuple[str, Any], ...] = ()

    def item(self, index: int) -> dict[str, object]:
        return {**super().item(index), **dict(self.patch)}


async def _spotify_metadata(
    db: Database, artist: HostileSpotifyArtist, artist_id: int
) -> dict[int, ArtistMeta]:
    """What metadata_for makes of a fake Spotify serving `artist` (Spotify the only source)."""
    with FakeSpotify(artists=[artist]) as fake:
        async with httpx.AsyncClient() as http:
            client = SpotifyClient(
                http,
                fake.client_id,
                fake.client_secret,
                api_url=fake.api_url,
                token_url=fake.token_url,
            )
            async with db.sessions() as session:
                return await metadata_for(session, [artist_id], MetadataFetcher(None, client))


@pytest.mark.parametrize(
    "patch",
    [
        (("genres", {"a": 1}),),
        (("popularity", 101),),
        (("popularity", "99"),),
        (("images", "big"),),
        (("external_urls", ["x"]),),
    ],
)
async def test_malformed_spotify_answers_are_no_metadata(
    db: Database, patch: tuple[tuple[str, Any], ...]
) -> None:
    ids = await _artists(db, "Spot")
    artist = HostileSpotifyArtist("Spot", ("pop",), 50, "https://i.scdn.co/a.jpg", patch=patch)
    metas = await _spotify_metadata(db, artist, ids["Spot"])
    assert metas == {} and await _cached_rows(db, ids["Spot"]) == []


async def test_spotify_image_widths_of_any_type_do_not_break(db: Database) -> None:
    ids = await _artists(db, "Wide")
    images = [{"url": "https://i.scdn.co/s.jpg", "width": "640"}, {"url": "https://i/b.jpg"}]
    artist = HostileSpotifyArtist("Wide", ("pop",), 50, patch=(("images", images),))
    metas = await _spotify_metadata(db, artist, ids["Wide"])
    assert metas[ids["Wide"]].genres == ["pop"]


def test_the_artist_endpoint_survives_hostile_metadata(seeded: Path, tmp_path: Path) -> None:
    data_dir = copy_seeded(seeded, tmp_path / "data")
    with FakeLastfm() as fake:
        settings = api_settings(data_dir, LASTFM_API_KEY=fake.api_key, LASTFM_API_URL=fake.url)
        with serving(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
            names = [
                c["artist"] for c in client.get("/candidates", headers=AUTH).json()["candidates"]
            ]
            patch = ((("stats", "listeners"), "9" * 4000), (("bio", "summary"), {"x": 1}))
            fake.add_artist(HostileArtist(names[0], ("rock",), 1, "A.", patch=patch))
            fake.add_artist(HostileArtist(names[1], raw=_raw_info_with_listeners(5000)))
            for name in names[:2]:
                card = client.get(f"/artists/{name}", headers=AUTH)
                assert card.status_code == 200, card.text
                assert card.json()["metadata"] is None
            listed = client.get("/candidates", headers=AUTH)
            assert listed.status_code == 200
