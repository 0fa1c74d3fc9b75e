"""History-file importers: detection, every format, bad rows, broken files, real histories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import InputFormatError
from pipeline.importers import FORMATS, ImportResult, read_history
from tests.conftest import shared_history
from tests.fixtures.make_fixtures import BAD_GHAN_EXAMPLES, EXPECTED, SCROBBLES, write_fixtures

GOOD = {
    "lastfm-to-csv.csv": ("lastfm-to-csv", 8, 1, 1),  # format, rows read, now playing, duplicates
    "ghan.csv": ("ghan", 7, 0, 1),
    "lastfmstats.json": ("lastfmstats-json", 6, 0, 0),
    "lastfmstats.csv": ("lastfmstats-csv", 6, 0, 0),
    "listenbrainz.zip": ("listenbrainz", 6, 0, 0),
    "listenbrainz-array.json": ("listenbrainz", 6, 0, 0),
    "scrobbles.csv": ("seed", 6, 0, 0),
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_fixtures(tmp_path_factory.mktemp("histories"))


def _scrobbles(result: ImportResult) -> set[tuple[int, str, str, str]]:
    frame = result.frame
    return set(zip(frame.ts, frame.artist, frame.track, frame.album, strict=True))


def test_every_format_has_a_fixture() -> None:
    assert {fmt for fmt, *_ in GOOD.values()} == set(FORMATS)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_auto_detects_and_reads_every_format(fixtures: dict[str, Path], name: str) -> None:
    fmt, rows_read, now_playing, duplicates = GOOD[name]
    result = read_history(fixtures[name])
    assert result.format == fmt
    assert (result.rows_read, result.skipped_now_playing, result.duplicates) == (
        rows_read,
        now_playing,
        duplicates,
    )
    assert result.bad_rows == 0 and result.bad_examples == []
    if fmt == "seed":  # the seed's file has no album column
        assert _scrobbles(result) == {(ts, a, t, "") for ts, a, t, _ in EXPECTED}
    else:
        assert _scrobbles(result) == EXPECTED
    frame = result.frame
    assert list(frame.columns) == [
        "ts",
        "artist",
        "track",
        "album",
        "artist_mbid",
        "track_mbid",
        "album_mbid",
    ]
    assert frame["ts"].dtype == "int64"
    assert frame["ts"].is_monotonic_increasing
    assert not frame.drop(columns="ts").isna().any().any()


@pytest.mark.parametrize("name", ["ghan.csv", "listenbrainz.zip"])
def test_mbids_are_kept(fixtures: dict[str, Path], name: str) -> None:
    frame = read_history(fixtures[name]).frame.set_index("ts")
    for ts, _artist, _track, _album, artist_mbid, track_mbid, album_mbid in SCROBBLES:
        assert frame.loc[ts, ["artist_mbid", "track_mbid", "album_mbid"]].tolist() == [
            artist_mbid,
            track_mbid,
            album_mbid,
        ]


def test_text_that_looks_missing_stays_text(fixtures: dict[str, Path]) -> None:
    frame = read_history(fixtures["lastfm-to-csv.csv"]).frame
    row = frame[frame.artist == "NaN"].iloc[0]
    assert (row.track, row.album) == ("null", "NA")


def test_forced_format_matches_detection(fixtures: dict[str, Path]) -> None:
    for name, (fmt, *_) in GOOD.items():
        assert _scrobbles(read_history(fixtures[name], fmt)) == _scrobbles(
            read_history(fixtures[name])
        )


def test_forced_format_reads_a_file_detection_cannot_place(tmp_path: Path) -> None:
    # Only dateless rows up front: nothing in the sample says "lastfm-to-csv".
    path = tmp_path / "history.csv"
    path.write_text("A,B,C,\n" * 60 + "A,B,C,01 Jan 2021 10:00\n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="use --format"):
        read_history(path)
    result = read_history(path, "lastfm-to-csv")
    assert (len(result.frame), result.skipped_now_playing) == (1, 60)
    assert result.frame.ts.tolist() == [1_609_495_200]


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("lastfm-to-csv.csv", "ghan", "not a ghan file: missing columns uts, artist, track"),
        ("ghan.csv", "lastfm-to-csv", "no valid scrobbles as lastfm-to-csv"),
        ("ghan.csv", "lastfmstats-json", "invalid JSON"),
        ("ghan.csv", "seed", "not a seed file: missing columns artist_name, track_name, date"),
        ("listenbrainz.zip", "ghan", "a ZIP file cannot be read as ghan"),
        ("lastfmstats.json", "listenbrainz", "not a ListenBrainz export"),
        ("ghan-missing-columns.csv", "auto", "not a ghan file: missing columns track"),
    ],
)
def test_wrong_forced_format_is_a_clear_error(
    fixtures: dict[str, Path], name: str, fmt: str, message: str
) -> None:
    with pytest.raises(InputFormatError, match=message) as caught:
        read_history(fixtures[name], fmt)
    assert str(fixtures[name]) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_rows_are_counted_with_line_numbers(fixtures: dict[str, Path]) -> None:
    result = read_history(fixtures["ghan-bad-rows.csv"])
    assert result.bad_rows == 6
    assert result.bad_examples == BAD_GHAN_EXAMPLES
    assert result.describe_bad()[0] == "line 3: unparseable date 'not-a-time'"
    assert (result.rows_read, result.duplicates) == (13, 1)
    assert _scrobbles(result) == EXPECTED


def test_bad_date_in_lastfm_to_csv(fixtures: dict[str, Path]) -> None:
    result = read_history(fixtures["lastfm-to-csv-bad-date.csv"])
    assert result.bad_examples == [(6, "unparseable date '31 Foo 2020 25:99'")]
    assert len(result.frame) == len(SCROBBLES) - 1
    assert result.skipped_now_playing == 1


def test_broken_listen_line_is_a_bad_row(fixtures: dict[str, Path]) -> None:
    result = read_history(fixtures["listenbrainz-broken-line.zip"])
    assert result.bad_rows == 1
    line, reason = result.bad_examples[0]
    assert line == 3 and reason.startswith("listens/2020/9.jsonl: invalid JSON")
    assert _scrobbles(result) == EXPECTED


def test_json_records_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "lastfmstats.json"
    scrobbles = [
        {"track": "T", "artist": "A", "album": "", "date": 1_600_000_000_000},
        {"track": "T", "artist": "", "album": "", "date": 1_600_000_100_000},
        "junk",
        {"track": "T", "artist": "A", "album": "", "date": "yesterday"},
    ]
    path.write_text(json.dumps({"username": "u", "scrobbles": scrobbles}), encoding="utf-8")
    result = read_history(path)
    assert result.describe_bad() == [
        "record 2: empty artist",
        "record 3: not a scrobble object",
        "record 4: unparseable date 'yesterday'",
    ]
    assert result.frame.ts.tolist() == [1_600_000_000]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "file is empty"),
        ("binary.bin", "binary file"),
        ("truncated.json", "truncated or invalid JSON"),
        ("no-listens.zip", "ZIP has no listens/YYYY/M.jsonl"),
        ("unknown.txt", "unknown format"),
    ],
)
def test_unreadable_files_raise_one_line_errors(
    fixtures: dict[str, Path], name: str, message: str
) -> None:
    with pytest.raises(InputFormatError, match=message) as caught:
        read_history(fixtures[name])
    assert str(caught.value).startswith(str(fixtures[name]))
    assert "\n" not in str(caught.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="no such file"):
        read_history(tmp_path / "nope.csv")
    with pytest.raises(InputFormatError, match="is a directory"):
        read_history(tmp_path)
    with pytest.raises(InputFormatError, match="unknown format 'xml'"):
        read_history(tmp_path / "nope.csv", "xml")


def test_non_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("uts,artist,track\n1600000000,Björk,Jóga\n".encode("latin-1"))
    with pytest.raises(InputFormatError, match="not UTF-8 text"):
        read_history(path)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "fmt", "rows_read", "distinct", "now_playing"),
    [
        ("music-stats.csv", "ghan", 102_400, 102_309, 0),
        ("pavelgar.csv", "ghan", 25_078, 25_077, 0),
        ("pingw33n.lastfm-to-csv.csv", "lastfm-to-csv", 60_950, 58_265, 303),
    ],
)
def test_real_shared_histories(
    name: str, fmt: str, rows_read: int, distinct: int, now_playing: int
) -> None:
    result = read_history(shared_history(name))
    assert result.format == fmt
    assert result.rows_read == rows_read
    assert len(result.frame) == distinct
    assert result.skipped_now_playing == now_playing
    assert result.bad_rows == 0
    assert result.duplicates == rows_read - now_playing - distinct
    assert not result.frame.duplicated(["ts", "artist", "album", "track"]).any()
