"""Property-based fuzzing: every importer ends in rows or one clear error; strict button data."""

from __future__ import annotations

import io
import json
import re
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.telegram.keyboards import parse_feedback, parse_why
from pipeline.errors import UserError
from pipeline.importers import FORMATS, read_history
from pipeline.plausible import MAX_MBID_CHARS, MAX_NAME_CHARS, MIN_PLAUSIBLE_TS

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# -- files -------------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "NA", "null", '"', '""', ",", ";", "\n", "\r\n", "\x00", "\ufeff"]),
    st.integers(-(10**20), 10**20).map(str),
    st.just("x" * (MAX_NAME_CHARS + 50)),
    st.sampled_from(["1600000000", "1600000000000", "01 Jan 2021 10:00", "2021-01-01T10:00:00Z"]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
track_metadata = st.fixed_dictionaries(
    {},
    optional={
        "artist_name": json_values,
        "track_name": json_values,
        "release_name": json_values,
        "additional_info": json_values,
        "mbid_mapping": json_values,
    },
)
listen_like = st.fixed_dictionaries(
    {"listened_at": json_values, "track_metadata": st.one_of(track_metadata, json_values)}
)
scrobble_like = st.fixed_dictionaries(
    {},
    optional={
        "artist": json_values,
        "track": json_values,
        "album": json_values,
        "date": json_values,
    },
)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _csv_text(rows: list[list[str]], sep: str, header: str) -> str:
    """Cells joined raw on purpose: stray quotes and separators inside them break lines."""
    return header + "".join(sep.join(row) + "\n" for row in rows)


HEADERS = {
    "lastfm-to-csv": "",
    "ghan": "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n",
    "lastfmstats-csv": "\ufeffArtist;Album;AlbumId;Track;Date#user\n",
    "seed": "artist_name,track_name,date\n",
}


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(sorted(HEADERS)))
    sep = ";" if fmt == "lastfmstats-csv" else ","
    rows = draw(st.lists(st.lists(texts, min_size=0, max_size=10), max_size=12))
    data = _csv_text(rows, sep, HEADERS[fmt]).encode("utf-8", errors="surrogatepass")
    cut = draw(st.integers(0, len(data)))
    return fmt, data[:cut] if draw(st.booleans()) else data


@st.composite
def json_files(draw: st.DrawFn) -> tuple[str, bytes]:
    layout = draw(st.sampled_from(["stats", "array", "payload", "jsonl", "zip", "deep"]))
    listens = draw(st.lists(listen_like, max_size=8))
    if layout == "stats":
        document: Any = {"username": "u", "scrobbles": draw(st.lists(scrobble_like, max_size=8))}
        fmt, text = "lastfmstats-json", json.dumps(document)
    elif layout == "array":
        fmt, text = "listenbrainz", json.dumps(listens)
    elif layout == "payload":
        fmt, text = "listenbrainz", json.dumps({"payload": {"listens": listens}})
    elif layout == "deep":
        fmt = draw(st.sampled_from(["listenbrainz", "lastfmstats-json"]))
        text = '{"scrobbles": ' + _deep(draw(st.integers(500, 100_000))) + "}"
    else:
        fmt = "listenbrainz"
        lines = [json.dumps(item) for item in listens]
        if draw(st.booleans()):
            lines.insert(0, '{"listened_at": 1, "x": ' + _deep(50_000) + "}")
        text = "\n".join(lines) + "\n"
    data = text.encode()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if layout == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("listens/2021/1.jsonl", data)
        data = buffer.getvalue()
        if draw(st.booleans()):  # damage the archive somewhere
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    return fmt, data


def _check(data: bytes, formats: list[str]) -> None:
    """Every reading ends in plausible, clean rows or a one-line UserError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history"
        path.write_bytes(data)
        for fmt in formats:
            try:
                result = read_history(path, fmt)
            except UserError as exc:
                assert "\n" not in str(exc) and str(exc)
                continue
            frame = result.frame
            assert (frame["ts"] >= MIN_PLAUSIBLE_TS).all()
            assert (frame["ts"] <= time.time() + 86_400).all()
            for column in ("artist", "track", "album"):
                values = frame[column]
                assert values.map(lambda v: isinstance(v, str)).all()
                assert not values.str.contains(CONTROL).any()
                assert (values.str.len() <= MAX_NAME_CHARS).all()
            assert (frame["artist"].str.strip() != "").all()
            assert (frame["artist_mbid"].str.len() <= MAX_MBID_CHARS).all()
            assert result.bad_rows + len(frame) + result.duplicates <= result.rows_read


@pytest.mark.slow
@FUZZ
@given(csv_files())
def test_csv_importers_end_in_rows_or_one_line(file: tuple[str, bytes]) -> None:
    fmt, data = file
    _check(data, ["auto", fmt])


@pytest.mark.slow
@FUZZ
@given(json_files())
def test_json_importers_end_in_rows_or_one_line(file: tuple[str, bytes]) -> None:
    fmt, data = file
    _check(data, ["auto", fmt])


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(FORMATS))
def test_any_bytes_end_in_rows_or_one_line(data: bytes, fmt: str) -> None:
    _check(data, ["auto", fmt])


# -- callback data -------------------------------------------------------------------------------


@given(st.text(max_size=80))
def test_callback_parsers_accept_only_well_formed_data(data: str) -> None:
    feedback, why = parse_feedback(data), parse_why(data)
    if feedback is not None:
        verdict, candidate = feedback
        assert data == f"fb:{'c' if verdict else 'd'}:{candidate}"
        assert 0 < candidate < 2**63
    if why is not None:
        assert data == f"why:{why}" and 0 < why < 2**63


@given(st.sampled_from(["c", "d"]), st.integers(1, 10**18 - 1))
def test_callback_data_round_trips_within_64_bytes(kind: str, number: int) -> None:
    data = f"fb:{kind}:{number}"
    assert len(data.encode()) <= 64
    assert parse_feedback(data) == (1 if kind == "c" else 0, number)
    assert parse_why(f"why:{number}") == number


@given(
    st.sampled_from(["fb:c:", "fb:d:", "why:"]),
    st.text(alphabet="0123456789²٣۳߃१১੧૧୧௧౧೧൧๑໑༡၁႑០᠑᥇᧑᪁᪑᭑᮱᱁᱑꘡꣑꤁꧑꧰꩐꯱０", min_size=1, max_size=5),
)
def test_only_ascii_digits_are_ids(prefix: str, digits: str) -> None:
    data = prefix + digits
    parsed = parse_why(data) if prefix == "why:" else parse_feedback(data)
    if not digits.isascii() or digits.startswith("0"):
        assert parsed is None
    else:
        assert parsed is not None
