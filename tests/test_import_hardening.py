"""Importers at the door: implausible dates, wrong JSON types, caps, broken files, summaries."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import InputFormatError
from pipeline.importers import read_history
from pipeline.plausible import MAX_NAME_CHARS

GOOD_TS = 1_600_000_000
HEADER = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


def _ghan(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def _listen(ts: object = GOOD_TS, artist: object = "Artist", **meta: object) -> dict:
    return {
        "listened_at": ts,
        "track_metadata": {"artist_name": artist, "track_name": "Track", **meta},
    }


def _jsonl(tmp_path: Path, *listens: object) -> Path:
    path = tmp_path / "listens.jsonl"
    lines = [item if isinstance(item, str) else json.dumps(item) for item in listens]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_scrobbles_from_1970_or_the_far_future_are_bad_rows(tmp_path: Path) -> None:
    path = _ghan(
        tmp_path,
        f"{GOOD_TS},,Good,,Album,,Track,",
        "1,,From 1970,,Album,,Track,",
        "4102444799,,From 2099,,Album,,Track,",
        "1000000000,,From 2001,,Album,,Track,",
    )
    result = read_history(path)
    assert result.frame["artist"].tolist() == ["Good"]
    assert result.bad_rows == 3
    assert result.describe_bad()[0] == (
        "line 3: implausible date '1' (before 2002 or in the future)"
    )


def test_listened_at_true_and_mistyped_names_are_bad_rows(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path,
        _listen(),
        _listen(ts=True),
        _listen(artist={"#text": "obj"}),
        {"listened_at": GOOD_TS + 1, "track_metadata": {"artist_name": "A", "track_name": ["x"]}},
        _listen(GOOD_TS + 2, release_name=True),
    )
    result = read_history(path)
    assert result.frame["artist"].tolist() == ["Artist"]
    assert [reason for _, reason in result.bad_examples] == [
        "date is true/false, not a number",
        "artist_name is an object, not text",
        "track_name is a list, not text",
        "release_name is true/false, not text",
    ]


def test_lastfmstats_json_with_mistyped_values(tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    scrobbles = [
        {"artist": "A", "track": "T", "album": "", "date": GOOD_TS * 1000},
        {"artist": ["A"], "track": "T", "album": "", "date": GOOD_TS * 1000},
        {"artist": "A", "track": "T", "album": "", "date": {"ms": 1}},
    ]
    path.write_text(json.dumps({"username": "u", "scrobbles": scrobbles}), encoding="utf-8")
    result = read_history(path)
    assert len(result.frame) == 1 and result.bad_rows == 2
    assert "artist is a list, not text" in result.describe_bad()[0]


def test_names_lose_control_characters_and_are_capped_with_a_count(tmp_path: Path) -> None:
    huge = "x" * (MAX_NAME_CHARS * 30)
    path = _ghan(
        tmp_path,
        f"{GOOD_TS},,Ar\x07tist\x1b,,Album,,Track,",
        f"{GOOD_TS + 1},,{huge},,Album,,{huge},",
    )
    result = read_history(path)
    assert result.frame["artist"].tolist() == ["Artist", "x" * MAX_NAME_CHARS]
    assert result.frame["track"].str.len().max() == MAX_NAME_CHARS
    assert result.capped == 2


def test_a_name_of_control_characters_only_is_an_empty_artist(tmp_path: Path) -> None:
    path = _ghan(tmp_path, f"{GOOD_TS},,Good,,Album,,Track,", f"{GOOD_TS},,\x01\x02,,Album,,T,")
    assert read_history(path).describe_bad() == ["line 3: empty artist"]


def test_deeply_nested_json_is_one_line_for_every_layout(tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    array = tmp_path / "array.json"
    array.write_text(deep, encoding="utf-8")
    with pytest.raises(InputFormatError, match="nested too deeply"):
        read_history(array)
    payload = tmp_path / "payload.json"
    payload.write_text('{"payload": {"listens": ' + deep + "}}", encoding="utf-8")
    with pytest.raises(InputFormatError, match="nested too deeply"):
        read_history(payload, "listenbrainz")
    stats = tmp_path / "stats.json"
    stats.write_text('{"scrobbles": ' + deep + "}", encoding="utf-8")
    with pytest.raises(InputFormatError, match="nested too deeply"):
        read_history(stats, "lastfmstats-json")
    lines = _jsonl(tmp_path, _listen(), '{"listened_at": 1, "x": ' + deep + "}")
    result = read_history(lines)
    assert result.describe_bad() == ["line 2: invalid JSON: nested too deeply"]
    member = tmp_path / "deep.zip"
    with zipfile.ZipFile(member, "w") as archive:
        archive.writestr("listens/2020/9.jsonl", json.dumps(_listen()) + "\n" + deep + "\n")
    assert read_history(member).describe_bad() == [
        "line 2: listens/2020/9.jsonl: invalid JSON: nested too deeply"
    ]


def test_damaged_zip_member_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    body = (json.dumps(_listen()) + "\n") * 2000
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("listens/2020/9.jsonl", body)
    data = bytearray(path.read_bytes())
    start = data.index(b"9.jsonl") + len(b"9.jsonl") + 40
    data[start : start + 40] = b"\xff" * 40  # garble the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match=r"damaged ZIP member listens/2020/9\.jsonl"):
        read_history(path)


def test_zip_member_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("listens/2020/9.jsonl", b" " * 5_000_000)
    assert path.stat().st_size < 50_000
    with pytest.raises(InputFormatError, match=r"expands to 5 MiB, over the 1 MiB limit"):
        read_history(path, max_zip_member_bytes=1_000_000)


@pytest.mark.slow
def test_zip_import_memory_stays_within_twice_the_member(tmp_path: Path) -> None:
    import tracemalloc

    listens = [
        _listen(GOOD_TS + i, f"Artist {i % 300}", release_name=f"Album {i % 50}")
        | {"inserted_at": GOOD_TS + i, "user_name": "tester"}
        for i in range(20_000)
    ]
    for listen in listens:
        listen["track_metadata"]["additional_info"] = {
            "recording_msid": "5b1c0c51-2b3c-4e55-9c3d-7f9f4a2c8f11",
            "submission_client": "a scrobbler",
            "duration_ms": 215000,
        }
    body = "".join(json.dumps(listen) + "\n" for listen in listens).encode()
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("listens/2020/9.jsonl", body)
    tracemalloc.start()
    try:
        result = read_history(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.frame) == 20_000
    assert peak < 2 * len(body), (peak, len(body))


def test_in_file_duplicates_spelled_differently_are_duplicates(tmp_path: Path) -> None:
    path = _ghan(
        tmp_path,
        f"{GOOD_TS},,Charli XCX,,Album,,Track,",
        f"{GOOD_TS},,charli  xcx,,Album,,Track,",
        f"{GOOD_TS},,CHARLI XCX,,Album,,Track,",
    )
    result = read_history(path)
    assert len(result.frame) == 1 and result.duplicates == 2
    assert result.frame["artist"].tolist() == ["Charli XCX"]


def test_a_one_field_line_is_malformed_not_an_empty_artist(tmp_path: Path) -> None:
    path = _ghan(tmp_path, f"{GOOD_TS},,Good,,Album,,Track,", "lonely")
    assert read_history(path).describe_bad() == [
        "line 3: malformed line: expected 8 fields, found 1"
    ]
    short = tmp_path / "short.csv"
    short.write_text('"A","B","T","01 Jan 2021 10:00"\nlonely\n', encoding="utf-8")
    result = read_history(short, "lastfm-to-csv")
    assert result.describe_bad() == ["line 2: malformed line: expected 4 fields, found 1"]
    assert result.skipped_now_playing == 0


def test_an_unterminated_quote_names_the_line_an_editor_shows(tmp_path: Path) -> None:
    path = _ghan(tmp_path, f"{GOOD_TS},,Good,,Album,,Track,", f'{GOOD_TS},,"Broken,,A,,T,')
    with pytest.raises(InputFormatError, match="unterminated quote starting at line 3"):
        read_history(path)
