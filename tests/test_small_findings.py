"""Small findings of the adversarial pass: units and empty ranges people read."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bot.render import render_track_record
from pipeline.errors import InputFormatError
from pipeline.importers import read_history
from pipeline.record import TrackRecord


def test_the_zip_limit_is_printed_in_mib(tmp_path: Path) -> None:
    """BREAKOUT_MAX_ZIP_MEMBER_MB=512 is 512 MiB, and the refusal says so (not "537 MB")."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("listens/2020/9.jsonl", b" " * (3 * 1024 * 1024))
    with pytest.raises(InputFormatError, match=r"expands to 3 MiB, over the 2 MiB limit"):
        read_history(path, max_zip_member_bytes=2 * 1024 * 1024)
    with pytest.raises(InputFormatError, match=r"over the 512 MiB limit"):
        big = tmp_path / "big.zip"
        with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("listens/2020/9.jsonl", b"")
        _declare_size(big, 513 * 1024 * 1024)
        read_history(big, max_zip_member_bytes=512 * 1024 * 1024)


def _declare_size(path: Path, size: int) -> None:
    """Rewrite the central directory's uncompressed size of the one member."""
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("source", ["live", "backtest"])
def test_a_track_record_without_months_shows_no_empty_range(source: str) -> None:
    record = TrackRecord(source, None, None, 0, 0, 0, 0, 0, None, None)
    text = render_track_record(record, html=False)
    assert "( – )" not in text and " – )" not in text and "()" not in text
    assert "track record" in text.lower()
