"""`breakout import FILE [--format F]`: parse a history file fully, then store all of it."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from bot.config import load_settings
from bot.db.scrobbles import import_scrobbles
from bot.db.session import DISK_ERRNOS, Database, describe_database_error
from bot.timeutil import utc_now
from pipeline.errors import UserError
from pipeline.importers import ImportResult, read_history
from pipeline.plausible import MAX_NAME_CHARS

# Below these sizes the import is over before a progress bar is worth drawing.
PROGRESS_MIN_ROWS = 20_000
PROGRESS_MIN_BYTES = 5_000_000


class ImportWriteError(UserError):
    """The database refused the import; the transaction was rolled back."""


@dataclass(frozen=True)
class StoreOutcome:
    """What storing an import changed."""

    new: int
    already_present: int


async def store_import(url: str, frame: pd.DataFrame, *, show_progress: bool) -> StoreOutcome:
    """Migrate the database and write every row; readers see all of it or none of it."""
    bar = tqdm(
        total=len(frame),
        unit="scrobble",
        unit_scale=True,
        desc="storing",
        file=sys.stderr,
        disable=not show_progress,
    )
    try:
        async with await Database.open(url) as db:
            new = await import_scrobbles(db.sessions, frame, progress=bar.update)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in DISK_ERRNOS:
            raise
        detail = describe_database_error(exc)
        raise ImportWriteError(
            f"could not write to the database ({detail}); nothing imported"
        ) from None
    finally:
        bar.close()
    return StoreOutcome(new=new, already_present=len(frame) - new)


def summary_lines(path: str, result: ImportResult, outcome: StoreOutcome) -> list[str]:
    """The summary printed after an import: one line, then the first bad rows."""
    line = (
        f"imported {path} ({result.format}): {result.rows_read:,} rows read, "
        f"{outcome.new:,} new scrobbles, {outcome.already_present:,} already present, "
        f"{result.duplicates:,} duplicate rows collapsed, {result.bad_rows:,} bad rows, "
        f"{result.skipped_now_playing:,} now-playing rows skipped"
    )
    if result.capped:
        line += f", {result.capped:,} names cut to {MAX_NAME_CHARS:,} characters"
    lines = [line]
    if result.bad_examples:
        lines.append(f"first bad rows (of {result.bad_rows:,}):")
        lines.extend(f"  {example}" for example in result.describe_bad())
    return lines


def cmd_import(args: argparse.Namespace) -> int:
    """Import a listening-history file; nothing is written unless all of it parses."""
    settings = load_settings()
    interactive = sys.stderr.isatty()
    path = Path(args.file)
    if interactive and path.is_file() and path.stat().st_size >= PROGRESS_MIN_BYTES:
        print(f"reading {path} ...", file=sys.stderr, flush=True)
    cap = settings.BREAKOUT_MAX_ZIP_MEMBER_MB * 1024 * 1024
    result = read_history(path, args.format, max_zip_member_bytes=cap, now=utc_now().timestamp())
    show_progress = interactive and len(result.frame) >= PROGRESS_MIN_ROWS
    outcome = asyncio.run(
        store_import(settings.DATABASE_URL, result.frame, show_progress=show_progress)
    )
    for line in summary_lines(args.file, result, outcome):
        print(line)
    return 0
