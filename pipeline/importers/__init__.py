"""Readers of listening-history files: format detection and one parser per format."""

from pipeline.importers.base import SCROBBLE_COLUMNS, ImportResult
from pipeline.importers.detect import FORMATS, detect_format, read_history

__all__ = ["FORMATS", "SCROBBLE_COLUMNS", "ImportResult", "detect_format", "read_history"]
