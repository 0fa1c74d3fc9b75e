"""Parsing of ListenBrainz answers, the cursor rule, the rate-limit budget and the settings."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.listenbrainz.client import HeaderBudget, ListensPage, _Transient, parse_listens
from bot.listenbrainz.sync import next_max_ts
from pipeline.plausible import MAX_NAME_CHARS
from tests.fakes.listenbrainz_server import FakeListen, render

NOW = 1_700_000_000


def listen(ts: object, artist: object = "A", track: object = "T", **meta: object) -> dict:
    return {
        "listened_at": ts,
        "track_metadata": {"artist_name": artist, "track_name": track, **meta},
    }


def answer(*listens: object, oldest: int | None = None) -> dict:
    payload: dict[str, object] = {"count": len(listens), "user_id": "rj", "listens": list(listens)}
    if oldest is not None:
        payload["oldest_listen_ts"] = oldest
    return {"payload": payload}


def test_fields_mbids_and_submitted_names_are_read() -> None:
    row = listen(
        NOW - 10,
        "Björk",
        "Jóga",
        release_name="Homogenic",
        additional_info={"artist_mbids": ["a-1", "a-2"], "recording_mbid": "r-1"},
        mbid_mapping={"artist_mbids": ["m-1"], "release_mbid": "rel-9", "recording_name": "JÓGA"},
    )
    page = parse_listens(answer(row, oldest=5), NOW + 1, 1000, NOW)
    assert page.frame.to_dict("records") == [
        {
            "ts": NOW - 10,
            "artist": "Björk",
            "track": "Jóga",
            "album": "Homogenic",
            "artist_mbid": "a-1",
            "track_mbid": "r-1",
            "album_mbid": "rel-9",  # the mapping fills what the submission lacked
        }
    ]
    assert (page.listed, page.oldest_ts, page.user_oldest_ts, page.short) == (1, NOW - 10, 5, True)


def test_bad_rows_are_skipped_but_still_move_the_cursor() -> None:
    rows = [
        listen(NOW - 1),
        listen(True),  # a JSON boolean is not a time
        listen(str(NOW - 2)),
        listen(NOW - 3.0),
        listen(NOW - 4, artist=""),
        listen(NOW - 5, artist=None),
        listen(NOW + 2 * 86400),  # two days in the future
        listen(0),  # 1970
        listen(10**30),
        listen(-5),
        "not a listen",
    ]
    page = parse_listens(answer(*rows), NOW + 1, 1000, NOW)
    assert page.frame["ts"].tolist() == [NOW - 1]
    assert page.skipped_invalid == 10 and page.listed == 11
    assert page.oldest_ts == 0  # the 1970 row is still a position to page below


def test_names_lose_control_characters_and_are_capped() -> None:
    page = parse_listens(
        answer(listen(NOW, "Ar\x00tist\x1b", "x" * (MAX_NAME_CHARS + 5))), NOW + 1, 1000, NOW
    )
    assert page.frame.loc[0, "artist"] == "Artist"
    assert len(page.frame.loc[0, "track"]) == MAX_NAME_CHARS and page.capped_names == 1


@pytest.mark.parametrize("body", [None, [], {"payload": {}}, {"payload": {"listens": {}}}])
def test_an_answer_without_listens_is_transient(body: object) -> None:
    with pytest.raises(_Transient):
        parse_listens(body, NOW, 1000, NOW)


def page_of(stamps: list[int], max_ts: int, requested: int, user_oldest: int | None) -> ListensPage:
    body = answer(*(listen(ts, track=f"t{i}") for i, ts in enumerate(stamps)), oldest=user_oldest)
    return parse_listens(body, max_ts, requested, NOW)


@pytest.mark.parametrize(
    ("stamps", "max_ts", "lower", "user_oldest", "expected"),
    [
        ([90, 80, 80], 100, None, 10, 81),  # full page: second 80 may continue on the next
        ([80, 80, 80], 81, None, 10, 80),  # a whole page in one second: give up on that second
        ([90, 80], 100, None, 80, None),  # short and the user's oldest reached: done
        ([90, 80], 100, None, None, None),  # short, oldest unknown: done
        ([90, 80], 100, None, 10, 81),  # short above the oldest listen: the server stopped early
        ([90, 80, 70], 100, 75, 10, None),  # below the walk's lower bound: done
        ([], 100, None, None, None),  # nothing below max_ts
    ],
)
def test_next_max_ts(
    stamps: list[int], max_ts: int, lower: int | None, user_oldest: int | None, expected: int
) -> None:
    assert next_max_ts(page_of(stamps, max_ts, 3, user_oldest), lower) == expected


async def test_header_budget_waits_only_when_the_window_is_used_up() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    budget = HeaderBudget(max_wait=5)
    budget.update(httpx.Headers({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset-In": "9"}))
    await budget.wait(sleep)
    budget.update(httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "2"}))
    await budget.wait(sleep)
    budget.update(httpx.Headers({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "600"}))
    started = time.monotonic()
    await budget.wait(sleep)
    assert len(waits) == 2 and 1.5 < waits[0] <= 2 and 4.5 < waits[1] <= 5  # capped
    assert time.monotonic() - started < 1  # the injected sleep did the waiting


def test_settings_of_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.LISTENS_SOURCE == "lastfm" and settings.source_name == "Last.fm"
    assert settings.LISTENBRAINZ_API_URL == "https://api.listenbrainz.org"
    assert not settings.source_configured()
    monkeypatch.setenv("LISTENS_SOURCE", " ListenBrainz")
    monkeypatch.setenv("LISTENBRAINZ_API_URL", "http://lb.local:8100/")
    settings = load_settings()
    assert settings.source_name == "ListenBrainz" and settings.LISTENBRAINZ_API_URL.endswith("8100")
    with pytest.raises(ConfigError, match=r"^missing setting LISTENBRAINZ_USERNAME"):
        settings.require_source()
    monkeypatch.setenv("LISTENBRAINZ_USERNAME", "rj")
    monkeypatch.setenv("LISTENBRAINZ_TOKEN", "secret-token")
    settings = load_settings()
    settings.require_source()  # no Last.fm setting needed
    assert "secret-token" in settings.secrets


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LISTENS_SOURCE", "spotify"),
        ("LISTENBRAINZ_API_URL", "api.listenbrainz.org"),
        ("LISTENBRAINZ_REQUESTS_PER_SECOND", "0"),
    ],
)
def test_malformed_source_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^invalid setting {name}: "):
        load_settings()


def test_a_rendered_fake_listen_parses_back() -> None:
    raw = render(FakeListen(NOW, "Ärtist", "Track", "LP", "a-mbid", "r-mbid", "l-mbid"), "rj")
    page = parse_listens(answer(json.loads(raw)), NOW + 1, 1000, NOW)
    row = page.frame.iloc[0].to_dict()
    assert (row["artist"], row["track"], row["album"]) == ("Ärtist", "Track", "LP")
    assert (row["artist_mbid"], row["track_mbid"], row["album_mbid"]) == (
        "a-mbid",
        "r-mbid",
        "l-mbid",
    )
