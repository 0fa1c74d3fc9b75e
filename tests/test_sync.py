"""The Last.fm sync against the fake service: every run ends with exactly the served scrobbles."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.cli import main
from bot.db.models import SyncState
from bot.db.session import Database
from bot.lastfm.client import LastfmClient, LastfmFatalError, RetryPolicy
from bot.lastfm.sync import LATE_SCROBBLE_WINDOW, SyncConflict, SyncReport, sync_history
from tests.fakes import FakeLastfm, FakeScrobble, make_scrobbles

NEWEST = 1_700_000_000
NOW = NEWEST + 3600
FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


@pytest.fixture
def fake() -> Iterator[FakeLastfm]:
    rows = [*make_scrobbles(2345, newest_ts=NEWEST), FakeScrobble(0, "Zero", "uts 0")]
    with FakeLastfm([*rows, FakeScrobble(None, "Dateless", "no date")]) as server:
        yield server


@pytest.fixture
async def client(fake: FakeLastfm) -> AsyncIterator[LastfmClient]:
    async with httpx.AsyncClient() as http:
        yield LastfmClient(http, fake.url, fake.api_key, 1000.0, retry=FAST, timeout=0.3)


async def sync(
    db: Database, client: LastfmClient, now: int = NOW, user: str = "rj", **kwargs: object
) -> SyncReport:
    return await sync_history(db.sessions, client, user, clock=lambda: now, **kwargs)  # type: ignore[arg-type]


async def assert_exact(db: Database, fake: FakeLastfm) -> None:
    """The database holds every valid served scrobble once, and nothing else."""
    async with db.sessions() as session:
        rows = (
            await session.execute(text("SELECT ts, artist_name, track, album FROM scrobbles"))
        ).all()
    assert len(rows) == len(set(rows))
    assert {tuple(r) for r in rows} == fake.expected_keys()


async def state_of(db: Database) -> SyncState:
    async with db.sessions() as session:
        state = await session.get(SyncState, "rj")
    assert state is not None
    return state


async def test_backfill_walks_every_page_once_under_a_pinned_to(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    calls: list[tuple[int, int, int]] = []
    report = await sync(db, client, progress=lambda *args: calls.append(args))
    assert report.done and report.mode == "backfill"
    assert (report.pages, report.fetched, report.new) == (12, 2345, 2345)
    assert (report.skipped_now_playing, report.skipped_invalid) == (12, 2)
    assert [r.page for r in fake.requests] == list(range(1, 13))
    assert {r.params["to"] for r in fake.requests} == {str(NOW)}
    assert all("from" not in r.params for r in fake.requests)
    assert calls[0] == (1, 12, 200) and calls[-1] == (12, 12, 2345) and len(calls) == 12
    state = await state_of(db)
    assert state.backfill_done and state.cursor_page is None and state.synced_to == NOW
    assert state.high_water_ts == NEWEST and state.last_sync_at is not None
    await assert_exact(db, fake)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("http_500", {}),
        ("error", {"code": 8}),
        ("error", {"code": 11}),
        ("error", {"code": 16}),
        ("rate_limit", {}),
        ("truncated", {}),
        ("disconnect", {}),
        ("slow", {"seconds": 1.0}),
    ],
)
@pytest.mark.slow
async def test_each_fault_kind_still_gives_the_exact_history(
    db: Database, fake: FakeLastfm, client: LastfmClient, kind: str, options: dict[str, int]
) -> None:
    fake.inject(kind, times=2, page=3, **options)  # type: ignore[arg-type]
    report = await sync(db, client)
    assert report.done and report.new == 2345
    assert [r.fault for r in fake.requests].count(kind) == 2
    await assert_exact(db, fake)


@pytest.mark.slow
async def test_exhausted_retries_stop_cleanly_and_the_next_run_resumes(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    fake.inject("http_500", times=None, page=4)
    first = await sync(db, client)
    assert not first.done and first.interrupted
    assert "progress saved at page 4 of 12" in first.message and "run again later" in first.message
    state = await state_of(db)
    assert (state.cursor_page, state.cursor_to) == (4, NOW)
    assert "HTTP 500" in (state.last_error or "") and state.last_sync_at is None
    assert first.new == 600
    fake.clear_faults()
    seen = len(fake.requests)
    # A later clock must not move the pinned `to`; user names are case-insensitive.
    second = await sync(db, client, now=NOW + 999, user="RJ")
    assert second.done and second.start_page == 4 and second.new == 2345 - 600
    resumed = fake.requests[seen:]
    assert [r.page for r in resumed] == list(range(4, 13))
    assert {r.params["to"] for r in resumed} == {str(NOW)}
    assert (await state_of(db)).last_error is None
    await assert_exact(db, fake)


async def test_fatal_error_mid_backfill_is_raised_once_and_recorded(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    fake.inject("error", code=17, times=None, page=3)
    with pytest.raises(LastfmFatalError, match="private"):
        await sync(db, client)
    assert [r.page for r in fake.requests] == [1, 2, 3]  # no retry storm
    state = await state_of(db)
    assert state.cursor_page == 3 and "private" in (state.last_error or "")
    fake.clear_faults()
    assert (await sync(db, client)).done
    await assert_exact(db, fake)


@pytest.mark.slow
async def test_late_and_new_scrobbles_are_picked_up_incrementally(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    await sync(db, client)
    late = [FakeScrobble(NEWEST - 5 * 86400 + i, "Late Artist", f"late {i}") for i in range(3)]
    new = [FakeScrobble(NOW + 60 * i, "New Artist", f"new {i}", "LP") for i in range(1, 4)]
    fake.add([*late, *new])
    seen = len(fake.requests)
    report = await sync(db, client, now=NOW + 7200)
    assert report.done and report.mode == "incremental" and report.new == 6
    requests = fake.requests[seen:]
    assert requests[0].params["from"] == str(NEWEST - LATE_SCROBBLE_WINDOW)
    assert requests[0].params["to"] == str(NOW + 7200)
    await assert_exact(db, fake)
    again = await sync(db, client, now=NOW + 7300)
    assert again.done and again.new == 0 and again.fetched > 0
    await assert_exact(db, fake)


@pytest.mark.slow
async def test_scrobbles_arriving_during_a_backfill_are_not_lost(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    arriving = [
        FakeScrobble(NOW + 30, "Live", "newer than the pinned to"),
        FakeScrobble(NEWEST - 100, "Late", "inside pages already read"),
        FakeScrobble(NEWEST - 2000 * 180, "Late", "inside pages still to read"),
    ]
    fake.on_page(5, lambda server: server.add(arriving))
    backfill = await sync(db, client)
    assert backfill.done and backfill.new == 2345 + 1  # the one in unread pages
    incremental = await sync(db, client, now=NOW + 600)
    assert incremental.new == 2
    await assert_exact(db, fake)


async def test_full_rereads_everything_and_adds_nothing(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    await sync(db, client)
    seen = len(fake.requests)
    shown: list[int] = []

    async def progress(pages_done: int, total_pages: int, new_rows: int) -> None:
        shown.append(pages_done)

    report = await sync(db, client, now=NOW + 60, full=True, progress=progress)
    assert report.done and report.mode == "full" and report.pages == 12 and report.new == 0
    assert shown == list(range(1, 13))
    assert all("from" not in r.params for r in fake.requests[seen:])
    await assert_exact(db, fake)


@pytest.mark.slow
async def test_interrupted_incremental_walk_resumes_with_the_same_range(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    await sync(db, client)
    fake.add(make_scrobbles(500, newest_ts=NOW + 5000, spacing=10, seed=1))
    fake.inject("http_500", times=None, page=2)
    seen = len(fake.requests)
    first = await sync(db, client, now=NOW + 6000)
    assert not first.done
    interrupted = fake.requests[seen]
    fake.clear_faults()
    seen = len(fake.requests)
    second = await sync(db, client, now=NOW + 9000)
    assert second.done and second.mode == "incremental" and second.start_page == 2
    resumed = fake.requests[seen]
    assert resumed.page == 2
    assert (resumed.params["from"], resumed.params["to"]) == (
        interrupted.params["from"],
        interrupted.params["to"],
    )
    await assert_exact(db, fake)


async def test_a_second_sync_moving_the_cursor_stops_this_one(
    db: Database, fake: FakeLastfm, client: LastfmClient
) -> None:
    path = db.url.removeprefix("sqlite+aiosqlite:///")

    def other_sync_takes_over(_server: FakeLastfm) -> None:
        with sqlite3.connect(path, timeout=10) as conn:
            conn.execute("UPDATE sync_state SET cursor_page = 9")
        conn.close()

    fake.on_page(3, other_sync_takes_over)
    with pytest.raises(SyncConflict, match="another sync of rj"):
        await sync(db, client)
    assert (await state_of(db)).cursor_page == 9


# -- the `breakout sync` command --------------------------------------------------------------


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, fake: FakeLastfm, db_url: str
) -> Iterator[dict[str, str]]:
    """Settings for the command; the root logger is restored after it reconfigured it."""
    env = {
        "DATABASE_URL": db_url,
        "LASTFM_API_URL": fake.url,
        "LASTFM_API_KEY": fake.api_key,
        "LASTFM_USERNAME": "rj",
        "LASTFM_REQUESTS_PER_SECOND": "1000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("bot.commands.sync.RETRY_POLICY", FAST)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield env
    root.handlers[:] = handlers
    root.setLevel(level)


def stored_keys(db_url: str) -> set[tuple[int, str, str, str]]:
    path = db_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT ts, artist_name, track, album FROM scrobbles").fetchall()
    assert len(rows) == len(set(rows))
    return set(rows)


@pytest.mark.parametrize("missing", ["LASTFM_API_KEY", "LASTFM_USERNAME"])
def test_command_names_a_missing_setting(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake: FakeLastfm,
    missing: str,
) -> None:
    monkeypatch.delenv(missing)
    assert main(["sync"]) == 2
    assert missing in capsys.readouterr().err
    assert fake.requests == []


def test_command_syncs_and_prints_a_summary(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], fake: FakeLastfm
) -> None:
    assert main(["sync"]) == 0
    out, err = capsys.readouterr()
    assert "backfill sync of rj complete: 12 pages, 2,345 scrobbles read, 2,345 new" in out
    assert "12/12" in err  # the progress bar
    assert fake.api_key not in out + err
    assert stored_keys(cli_env["DATABASE_URL"]) == fake.expected_keys()


@pytest.mark.slow
def test_command_reports_unavailable_and_fatal_errors(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], fake: FakeLastfm
) -> None:
    fake.inject("http_500", times=None, page=2)
    assert main(["sync"]) == 1
    err = capsys.readouterr().err
    assert "error: Last.fm unavailable" in err and "progress saved" in err
    fake.clear_faults()
    fake.inject("error", code=10, times=None)
    assert main(["sync"]) == 1
    assert "error: Last.fm rejected the API key (error 10): check LASTFM_API_KEY" in (
        capsys.readouterr().err
    )
    fake.clear_faults()
    assert main(["sync"]) == 0
    assert stored_keys(cli_env["DATABASE_URL"]) == fake.expected_keys()


@pytest.mark.slow
def test_backfill_killed_mid_way_resumes_in_a_new_process(
    cli_env: dict[str, str], fake: FakeLastfm, tmp_path: Path
) -> None:
    env = {**os.environ, **cli_env}
    command = [sys.executable, "-m", "bot.cli", "sync"]
    fake.inject("hold", page=7)
    with subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        fake.wait_for_request(lambda r: r.page == 7, timeout=60)
        process.kill()  # SIGKILL: no cleanup code runs
        process.communicate()
    fake.release()
    path = cli_env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        page, to = conn.execute("SELECT cursor_page, cursor_to FROM sync_state").fetchone()
        stored = conn.execute("SELECT COUNT(*) FROM scrobbles").fetchone()[0]
    assert page in (6, 7)  # page 6 may still have been in its transaction when killed
    assert stored == (page - 1) * 200
    pinned = fake.requests[0].params["to"]
    assert to == int(pinned)
    seen = len(fake.requests)
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"resumed at page {page}" in result.stdout
    resumed = fake.requests[seen:]
    assert [r.page for r in resumed] == list(range(page, 13))
    assert {r.params["to"] for r in resumed} == {pinned}
    assert stored_keys(cli_env["DATABASE_URL"]) == fake.expected_keys()


# -- plausibility at the door and bad settings -------------------------------------------------


def _page(*tracks: object) -> dict:
    attr = {"page": "1", "totalPages": "1", "total": str(len(tracks))}
    return {"recenttracks": {"@attr": attr, "track": list(tracks)}}


def _track(uts: object, artist: object = "A", name: object = "T", album: object = "") -> dict:
    return {
        "artist": {"#text": artist, "mbid": ""} if not isinstance(artist, list) else artist,
        "name": name,
        "album": {"#text": album, "mbid": ""},
        "mbid": "",
        "date": {"uts": uts, "#text": ""},
    }


def test_page_rows_that_cannot_be_real_are_invalid() -> None:
    from bot.lastfm.client import parse_page
    from pipeline.plausible import MAX_NAME_CHARS

    page = parse_page(
        _page(
            _track("1600000000", "Good\x07 one"),
            _track("1", "From 1970"),
            _track(str(NOW + 2 * 86_400), "From the future"),
            _track("4102444799", "From 2099"),
            _track("1600000001", {"obj": 1}),
            _track("1600000002", "A", ["x"]),
            _track("1600000003", "A", "T", True),
            _track(True, "A"),
            _track("1600000004", "L" * (MAX_NAME_CHARS + 10)),
        ),
        now=NOW,
    )
    assert page.frame["artist"].tolist() == ["Good one", "L" * MAX_NAME_CHARS]
    assert page.skipped_invalid == 7
    assert page.capped == 1


def test_command_with_an_impossible_port_is_one_line(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LASTFM_API_URL", "http://127.0.0.1:99999/2.0/")
    assert main(["sync"]) == 2  # refused when the settings load, like every malformed setting
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "error: invalid setting LASTFM_API_URL: not a URL (or a port outside 1-65535): "
        "'http://127.0.0.1:99999/2.0/'"
    ]
