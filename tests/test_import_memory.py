"""A garbage file behind a valid header: read in bounded memory and time, refused in one line."""

from __future__ import annotations

import random
import string
import time
import tracemalloc
from pathlib import Path

import pytest

from pipeline.errors import InputFormatError
from pipeline.importers import read_history

GHAN_HEADER = "uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid\n"


def _garbage(path: Path, lines: int) -> int:
    rng = random.Random(5)
    letters = string.ascii_letters + string.digits + "+/"
    with path.open("w") as handle:
        handle.write(GHAN_HEADER)
        for _ in range(lines):
            handle.write("".join(rng.choices(letters, k=rng.randint(8, 60))) + "\n")
    return path.stat().st_size


@pytest.mark.slow  # a large garbage file
def test_a_garbage_file_with_a_valid_header_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    size = _garbage(path, 50_000)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(InputFormatError, match="no valid scrobbles as ghan") as refused:
            read_history(path)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "expected 8 fields, found 1" in str(refused.value)
    # Before: one error string per line (~90 B each) and one .loc write per line (minutes).
    assert peak < 9 * size, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    assert elapsed < 30
