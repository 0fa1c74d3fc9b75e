"""The ListenBrainz sync against the fake: every run ends with exactly the served listens."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from bot.db.models import SyncState
from bot.db.session import Database
from bot.lastfm.client import RetryPolicy
from bot.lastfm.sync import LATE_SCROBBLE_WINDOW, SyncConflict, SyncReport
from bot.listenbrainz.client import (
    ListenBrainzClient,
    ListenBrainzError,
    ListenBrainzFatalError,
)
from bot.listenbrainz.sync import state_key, sync_listens
from tests.fakes import FakeListen, FakeListenBrainz, make_listens

NEWEST = 1_700_000_000
NOW = NEWEST + 3600
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
# 2345 listens, three per second, an hour apart: 32 days, three pages of 1000.
BASE = make_listens(2345, newest_ts=NEWEST, spacing=3600, per_second=3)
BAD = [
    FakeListen(5, "Epoch", "listened in 1970"),
    FakeListen(NEWEST - 7200, "Bool", "listened_at true", served=True),
    FakeListen(NEWEST - 10800, "Text", "listened_at a string", served=str(NEWEST - 10800)),
    FakeListen(NEWEST - 14400, "", "no artist"),
]


@pytest.fixture
def fake() -> Iterator[FakeListenBrainz]:
    with FakeListenBrainz([*BASE, *BAD]) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def client(fake: FakeListenBrainz, http: httpx.AsyncClient) -> ListenBrainzClient:
    return ListenBrainzClient(http, fake.url, None, 1000.0, retry=FAST, timeout=0.3)


async def sync(
    db: Database, client: ListenBrainzClient, now: int = NOW, user: str = "rj", **kwargs: object
) -> SyncReport:
    return await sync_listens(db.sessions, client, user, clock=lambda: now, **kwargs)  # type: ignore[arg-type]


async def assert_exact(db: Database, fake: FakeListenBrainz, now: int = NOW) -> None:
    """The database holds every valid served listen once, and nothing else."""
    async with db.sessions() as session:
        rows = (
            await session.execute(text("SELECT ts, artist_name, track, album FROM scrobbles"))
        ).all()
    assert len(rows) == len(set(rows))
    assert {tuple(r) for r in rows} == fake.expected_keys(now)


async def state_of(db: Database) -> SyncState:
    async with db.sessions() as session:
        state = await session.get(SyncState, state_key("rj"))
    assert state is not None
    return state


def max_ts_of(fake: FakeListenBrainz, start: int = 0) -> list[int]:
    return [int(r.params["max_ts"]) for r in fake.listens_requests[start:]]


async def test_backfill_reads_every_listen_once_across_shared_seconds(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    calls: list[tuple[int, int, int]] = []
    report = await sync(db, client, progress=lambda *args: calls.append(args))
    assert report.done and report.mode == "backfill"
    assert report.new == 2345 and report.skipped_invalid == 4
    requests = fake.listens_requests
    assert {r.params["count"] for r in requests} == {"1000"}
    assert all("min_ts" not in r.params for r in requests)
    stamps = max_ts_of(fake)
    assert stamps[0] == NOW + 1 and stamps == sorted(stamps, reverse=True)
    # Page 1 ends inside a second (two of its three listens did not fit): page 2 re-reads it.
    boundary = fake.listens[999].ts
    assert fake.listens[1000].ts == boundary and stamps[1] == boundary + 1
    assert report.pages == len(requests) == 3
    assert calls[-1] == (3, 3, 2345) and [c[0] for c in calls] == [1, 2, 3]
    state = await state_of(db)
    assert state.backfill_done and state.cursor_page is None and state.cursor_to is None
    assert state.high_water_ts == NEWEST and state.synced_to == NEWEST
    assert state.last_sync_at is not None and state.last_error is None
    await assert_exact(db, fake)


async def test_more_listens_in_one_second_than_a_page_holds_still_ends(
    db: Database, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    crowded = [FakeListen(NEWEST, "Crowd", f"same second {i}") for i in range(1200)]
    older = make_listens(10, newest_ts=NEWEST - 60, spacing=60)
    with FakeListenBrainz([*crowded, *older]) as fake:
        client = ListenBrainzClient(http, fake.url, None, 1000.0, retry=FAST)
        with caplog.at_level(logging.WARNING):
            report = await sync(db, client)
        assert report.done and report.new == 1000 + 10
        assert max_ts_of(fake) == [NOW + 1, NEWEST + 1, NEWEST]
    assert "more than 1000 listens at second" in caplog.text


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("http_500", {}),
        ("error", {"status": 503}),
        ("rate_limit", {"seconds": 0}),
        ("truncated", {}),
        ("disconnect", {}),
        ("slow", {"seconds": 1.0}),
        ("empty", {}),
        ("short", {}),
    ],
)
@pytest.mark.slow
async def test_each_fault_kind_still_gives_the_exact_history(
    db: Database,
    fake: FakeListenBrainz,
    client: ListenBrainzClient,
    kind: str,
    options: dict[str, float],
) -> None:
    fake.inject(kind, times=2, after=1, **options)  # type: ignore[arg-type]
    report = await sync(db, client)
    assert report.done and report.new == 2345
    assert [r.fault for r in fake.listens_requests].count(kind) == 2
    await assert_exact(db, fake)


async def test_exhausted_retries_stop_cleanly_and_the_next_run_resumes(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    fake.inject("http_500", times=None, after=1)
    first = await sync(db, client)
    assert not first.done and first.new == 997  # page 1 also lists three bad listens
    assert "progress saved at page 2" in first.message and "run again later" in first.message
    state = await state_of(db)
    failing = max_ts_of(fake)[-1]
    assert (state.cursor_page, state.cursor_to) == (2, failing)
    assert "HTTP 500" in (state.last_error or "") and state.last_sync_at is None
    fake.clear_faults()
    seen = len(fake.listens_requests)
    second = await sync(db, client, now=NOW + 999, user="RJ")  # names are case-insensitive
    assert second.done and second.start_page == 2 and second.new == 2345 - 997
    assert "resumed at page 2" in second.message
    assert max_ts_of(fake, seen)[0] == failing
    assert (await state_of(db)).last_error is None
    await assert_exact(db, fake)


async def test_unknown_user_and_bad_token_are_one_clear_line_without_retries(
    db: Database, fake: FakeListenBrainz, http: httpx.AsyncClient
) -> None:
    client = ListenBrainzClient(http, fake.url, None, 1000.0, retry=FAST)
    with pytest.raises(
        ListenBrainzFatalError, match=r"has no user 'nobody'.*LISTENBRAINZ_USERNAME"
    ):
        await sync_listens(db.sessions, client, "nobody")
    assert len(fake.listens_requests) == 1
    wrong = ListenBrainzClient(http, fake.url, "not-a-token", 1000.0, retry=FAST)
    with pytest.raises(ListenBrainzFatalError, match="rejected LISTENBRAINZ_TOKEN"):
        await sync(db, wrong)
    assert len(fake.listens_requests) == 1  # the token is checked before any listens request
    async with db.sessions() as session:
        state = await session.get(SyncState, state_key("rj"))
    assert state is not None and "LISTENBRAINZ_TOKEN" in (state.last_error or "")
    right = ListenBrainzClient(http, fake.url, fake.token, 1000.0, retry=FAST)
    assert (await sync(db, right)).done
    assert fake.listens_requests[-1].authorization == f"Token {fake.token}"
    await assert_exact(db, fake)


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, ListenBrainzFatalError, "rejected LISTENBRAINZ_TOKEN"),
        (
            400,
            ListenBrainzError,
            r"answered HTTP 400 \(Something went wrong.\): check LISTENBRAINZ_API_URL",
        ),
    ],
)
async def test_refusals_stop_at_once_with_one_line(
    db: Database,
    fake: FakeListenBrainz,
    client: ListenBrainzClient,
    status: int,
    error: type[Exception],
    message: str,
) -> None:
    fake.inject("error", status=status, times=None, after=1)
    with pytest.raises(error, match=message):
        await sync(db, client)
    assert len(fake.listens_requests) == 2  # no retries
    assert (await state_of(db)).cursor_page == 2  # page 1 is kept


async def test_late_and_new_listens_are_picked_up_incrementally(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    await sync(db, client)
    backfill_requests = len(fake.listens_requests)
    late = [FakeListen(NEWEST - 5 * 86400, "Late Artist", f"late {i}") for i in range(3)]
    new = [FakeListen(NOW + 60 * i, "New Artist", f"new {i}", "LP") for i in range(1, 4)]
    fake.add([*late, *new])
    report = await sync(db, client, now=NOW + 7200)
    assert report.done and report.mode == "incremental" and report.new == 6
    walked = max_ts_of(fake, backfill_requests)
    assert walked[0] == NOW + 7201 and len(walked) < backfill_requests
    assert (await state_of(db)).synced_to == NOW + 180
    await assert_exact(db, fake, NOW + 7200)
    again = await sync(db, client, now=NOW + 7300)
    assert again.done and again.new == 0 and again.fetched > 0
    # The walk stopped below the 14 days before the newest listen, not at the oldest one.
    oldest_read = min(int(r.params["max_ts"]) for r in fake.listens_requests[-len(walked) :])
    assert oldest_read > NOW + 180 - LATE_SCROBBLE_WINDOW - 1000 * 3600
    await assert_exact(db, fake, NOW + 7300)


async def test_an_old_import_on_listenbrainz_asks_for_a_full_sync(
    db: Database, http: httpx.AsyncClient
) -> None:
    with FakeListenBrainz(BASE) as fake:
        client = ListenBrainzClient(http, fake.url, None, 1000.0, retry=FAST)
        await sync(db, client)
        assert "--full" not in (await sync(db, client, now=NOW + 60)).message
        imported = make_listens(50, newest_ts=NEWEST - 400 * 86400, seed=4)
        fake.add(imported)
        hinted = await sync(db, client, now=NOW + 120)
        assert hinted.new == 0 and "`breakout sync --full` fetches them" in hinted.message
        full = await sync(db, client, now=NOW + 180, full=True)
        assert full.new == 50 and "--full" not in full.message
        assert "--full" not in (await sync(db, client, now=NOW + 240)).message
        await assert_exact(db, fake, NOW + 240)


async def test_listens_arriving_during_a_backfill_are_not_lost(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    arriving = [
        FakeListen(NOW + 30, "Live", "newer than the pinned top"),
        FakeListen(NEWEST - 100, "Late", "inside pages already read"),
        FakeListen(NEWEST - 700 * 3600, "Late", "inside pages still to read"),
    ]
    fake.on_request(2, lambda server: server.add(arriving))
    backfill = await sync(db, client)
    assert backfill.done and backfill.new == 2345 + 1
    incremental = await sync(db, client, now=NOW + 600)
    assert incremental.new == 2
    await assert_exact(db, fake, NOW + 600)


async def test_full_rereads_everything_and_adds_nothing(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    await sync(db, client)
    seen = len(fake.listens_requests)
    report = await sync(db, client, now=NOW + 60, full=True)
    assert report.done and report.mode == "full" and report.pages == 3 and report.new == 0
    assert max_ts_of(fake, seen)[0] == NOW + 61
    await assert_exact(db, fake)


async def test_interrupted_incremental_walk_resumes_with_the_same_bounds(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    await sync(db, client)
    fake.add(make_listens(1500, newest_ts=NOW + 5000, spacing=1, per_second=2, seed=1))
    fake.inject("http_500", times=None, after=len(fake.listens_requests) + 1)
    first = await sync(db, client, now=NOW + 6000)
    assert not first.done
    saved = await state_of(db)
    assert saved.cursor_from == NEWEST - LATE_SCROBBLE_WINDOW
    fake.clear_faults()
    seen = len(fake.listens_requests)
    second = await sync(db, client, now=NOW + 9000)
    assert second.done and second.mode == "incremental" and second.start_page == 2
    assert max_ts_of(fake, seen)[0] == saved.cursor_to
    await assert_exact(db, fake, NOW + 9000)


async def test_a_second_sync_moving_the_cursor_stops_this_one(
    db: Database, fake: FakeListenBrainz, client: ListenBrainzClient
) -> None:
    path = db.url.removeprefix("sqlite+aiosqlite:///")

    def other_sync_takes_over(_server: FakeListenBrainz) -> None:
        with sqlite3.connect(path, timeout=10) as conn:
            conn.execute("UPDATE sync_state SET cursor_page = 9")
        conn.close()

    fake.on_request(3, other_sync_takes_over)
    with pytest.raises(SyncConflict, match="another sync of listenbrainz:rj"):
        await sync(db, client)
    assert (await state_of(db)).cursor_page == 9


async def test_rate_limit_headers_are_obeyed_without_a_429(
    db: Database, http: httpx.AsyncClient
) -> None:
    with FakeListenBrainz(BASE, rate_limit=2, rate_window=1.0) as fake:
        client = ListenBrainzClient(http, fake.url, fake.token, 1000.0, retry=FAST)
        report = await sync(db, client)
        assert report.done
        requests = fake.requests
    assert len(requests) == 4  # the token check and three pages
    assert all(r.status != 429 for r in requests)
    assert requests[2].at - requests[1].at >= 0.5  # waited for the window to reset


@pytest.mark.slow
async def test_a_429_waits_the_reset_in_seconds(db: Database, http: httpx.AsyncClient) -> None:
    patient = RetryPolicy(attempts=3, base_delay=0.001, max_delay=5.0)
    with FakeListenBrainz(BASE) as fake:
        fake.inject("rate_limit", times=1, after=1, seconds=1)
        client = ListenBrainzClient(http, fake.url, None, 1000.0, retry=patient)
        assert (await sync(db, client)).done
        requests = fake.listens_requests
    assert requests[1].fault == "rate_limit" and requests[2].at - requests[1].at >= 0.9
