"""The Last.fm client against the fake service: parsing, retries, fatal errors, rate limit."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.lastfm.client import (
    LastfmClient,
    LastfmError,
    LastfmFatalError,
    LastfmUnavailable,
    RetryPolicy,
    parse_page,
)
from pipeline.errors import UserError
from tests.fakes import FakeLastfm, FakeScrobble, make_scrobbles

FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.004)


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    with FakeLastfm(make_scrobbles(450)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def make_client(
    http: httpx.AsyncClient, fake: FakeLastfm, rate: float = 1000.0, **kwargs: object
) -> LastfmClient:
    kwargs.setdefault("retry", FAST)
    return LastfmClient(http, fake.url, fake.api_key, rate, **kwargs)  # type: ignore[arg-type]


async def test_page_is_parsed_without_now_playing(
    fake: FakeLastfm, http: httpx.AsyncClient
) -> None:
    page = await make_client(http, fake).recent_tracks_page(fake.username, 3)
    assert (page.page, page.total_pages, page.total) == (3, 3, 450)
    assert page.skipped_now_playing == 1 and page.listed == 51
    assert len(page.frame) == 50
    assert page.frame["ts"].dtype == "int64"
    newest = fake.scrobbles[400]
    row = page.frame.iloc[0]
    assert (row["ts"], row["artist"], row["track"], row["album"]) == newest.key
    assert page.frame["track_mbid"].tolist()[:3] == [s.track_mbid for s in fake.scrobbles[400:403]]
    sent = fake.requests[-1].params
    assert sent["api_key"] == fake.api_key and sent["limit"] == "200" and sent["page"] == "3"
    assert sent["format"] == "json" and sent["extended"] == "0"


async def test_single_object_page_bad_timestamps_and_from_to(http: httpx.AsyncClient) -> None:
    rows = [
        FakeScrobble(1_600_000_300, "Only One", "t"),
        FakeScrobble(0, "Zero", "uts zero"),
        FakeScrobble(None, "Missing", "no date"),
    ]
    with FakeLastfm(rows, now_playing=False) as fake:
        client = make_client(http, fake)
        single = await client.recent_tracks_page(fake.username, 1, 1_600_000_000, 1_700_000_000)
        everything = await client.recent_tracks_page(fake.username, 1)
        empty = await client.recent_tracks_page(fake.username, 1, 1_600_000_301)
        raw = await http.get(fake.url, params=fake.requests[0].params)
    assert '"track":{"artist"' in raw.text  # one entry: an object, not a list
    assert single.frame["artist"].tolist() == ["Only One"]
    assert single.total == 1 and single.listed == 1
    assert everything.skipped_invalid == 2 and len(everything.frame) == 1
    assert (empty.total_pages, len(empty.frame)) == (0, 0)
    assert [r.params.get("from") for r in fake.requests][:3] == ["1600000000", None, "1600000301"]


def test_parse_accepts_extended_artist_names_and_plain_strings() -> None:
    payload = {
        "recenttracks": {
            "track": [
                {"@attr": {"nowplaying": "true"}, "artist": {"name": "NP"}, "name": "x"},
                {
                    "artist": {"name": "Extended Artist", "mbid": "a-mbid"},
                    "album": {"#text": "", "mbid": ""},
                    "name": "Song",
                    "mbid": "",
                    "date": {"uts": "1600000000"},
                },
                {"artist": "Plain", "name": "S2", "date": {"uts": "1600000001"}},
                {"artist": {"#text": ""}, "name": "no artist", "date": {"uts": "1600000002"}},
                {"artist": {"#text": "A"}, "name": "bad uts", "date": {"uts": "soon"}},
            ],
            "@attr": {"page": "1", "totalPages": "1", "total": "4", "perPage": "200"},
        }
    }
    page = parse_page(payload)
    assert page.frame["artist"].tolist() == ["Extended Artist", "Plain"]
    assert page.frame["artist_mbid"].tolist() == ["a-mbid", ""]
    assert (page.skipped_now_playing, page.skipped_invalid) == (1, 2)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("http_500", {}),
        ("error", {"code": 8}),
        ("error", {"code": 11, "status": 503}),
        ("error", {"code": 16}),
        ("rate_limit", {}),
        ("truncated", {}),
        ("huge_number", {}),
        ("disconnect", {}),
        ("slow", {"seconds": 1.0}),
    ],
)
async def test_transient_faults_are_retried(
    fake: FakeLastfm, http: httpx.AsyncClient, kind: str, options: dict[str, int]
) -> None:
    fake.inject(kind, times=2, **options)  # type: ignore[arg-type]
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    client = make_client(http, fake, timeout=0.3, sleep=sleep, draw=lambda: 0.5)
    page = await client.recent_tracks_page(fake.username, 1)
    assert len(page.frame) == 200
    assert [r.fault for r in fake.requests] == [kind, kind, None]
    assert delays == [0.0005, 0.001]  # full jitter: draw * base * 2^(k-1)


async def test_retries_are_bounded(
    fake: FakeLastfm, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("http_500", times=None)
    caplog.set_level(logging.WARNING)
    with pytest.raises(LastfmUnavailable, match="after 4 attempts") as caught:
        await make_client(http, fake).recent_tracks_page(fake.username, 1)
    assert len(fake.requests) == FAST.attempts
    assert fake.api_key not in str(caught.value) and fake.api_key not in caplog.text
    assert "retrying" in caplog.text


async def test_connection_refused_is_retried_then_unavailable(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = LastfmClient(http, f"http://127.0.0.1:{port}/2.0/", "secret-key", 1000.0, retry=FAST)
    with pytest.raises(LastfmUnavailable, match="connection error: ConnectError") as caught:
        await client.recent_tracks_page("rj", 1)
    assert "secret-key" not in str(caught.value)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(attempts=8, base_delay=1.0, max_delay=60.0)
    assert [policy.delay(k, 0.999999) for k in range(1, 9)] == pytest.approx(
        [1, 2, 4, 8, 16, 32, 60, 60], rel=1e-5
    )
    assert policy.delay(5, 0.0) == 0.0


@pytest.mark.parametrize(
    ("code", "words"),
    [(10, "LASTFM_API_KEY"), (26, "suspended"), (6, "LASTFM_USERNAME"), (17, "private")],
)
async def test_fatal_errors_fail_once_with_a_clear_message(
    fake: FakeLastfm, http: httpx.AsyncClient, code: int, words: str
) -> None:
    fake.inject("error", code=code, times=None)
    with pytest.raises(LastfmFatalError, match=words) as caught:
        await make_client(http, fake).recent_tracks_page(fake.username, 1)
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)
    assert len(fake.requests) == 1


async def test_wrong_key_and_unknown_user_are_fatal_without_injection(
    fake: FakeLastfm, http: httpx.AsyncClient
) -> None:
    wrong_key = LastfmClient(http, fake.url, "not-the-key", 1000.0, retry=FAST)
    with pytest.raises(LastfmFatalError, match="error 10"):
        await wrong_key.recent_tracks_page(fake.username, 1)
    with pytest.raises(LastfmFatalError, match="no user 'nobody'"):
        await make_client(http, fake).recent_tracks_page("nobody", 1)
    assert len(fake.requests) == 2


async def test_other_errors_are_not_retried(fake: FakeLastfm, http: httpx.AsyncClient) -> None:
    fake.inject("error", code=3, status=400)
    with pytest.raises(LastfmError, match="error 3"):
        await make_client(http, fake).recent_tracks_page(fake.username, 1)
    wrong_url = LastfmClient(http, fake.url.replace("/2.0/", "/3.0/"), "k", 1000.0, retry=FAST)
    with pytest.raises(LastfmError, match="HTTP 404: check LASTFM_API_URL"):
        await wrong_url.recent_tracks_page(fake.username, 1)
    assert len(fake.requests) == 1  # the 404 never reached the API handler


async def test_rate_limit_holds_across_concurrent_callers_and_retries(fake: FakeLastfm) -> None:
    rate = 20.0
    sent: list[float] = []

    async def on_request(_request: httpx.Request) -> None:
        sent.append(time.monotonic())

    fake.inject("error", code=8, times=3)
    async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as http:
        client = make_client(http, fake, rate=rate, retry=RetryPolicy(attempts=6, base_delay=0))

        async def worker(pages: range) -> None:
            for page in pages:
                await client.recent_tracks_page(fake.username, page % 3 + 1)

        await asyncio.gather(*(worker(range(i, 24, 3)) for i in range(3)))
    assert len(sent) == len(fake.requests) == 27  # 24 pages + 3 retries
    assert min(b - a for a, b in itertools.pairwise(sent)) > 0.5 / rate  # scheduling jitter
    assert sent[-1] - sent[0] >= (len(sent) - 1) / rate * 0.98
    for i, start in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < start + 1.0) <= rate
