"""`breakout backup [PATH]`, `breakout restore PATH` and `breakout export-feedback`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import load_settings
from bot.db.session import database_errors
from bot.timeutil import utc_now


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the database (safe while the bot runs)."""
    from bot.services import backup

    settings = load_settings()
    db_path = settings.database_path
    if args.path:
        target = Path(args.path)
        if target.is_dir():
            target = target / f"breakout-{utc_now():%Y%m%d-%H%M%S}.sqlite3"
        path = backup.backup_database(db_path, target)
    else:
        path = backup.nightly_backup(db_path, max(settings.BREAKOUT_BACKUP_KEEP, 1))
    print(f"backed up {db_path} to {path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the database with a checked backup; the current one is kept beside it."""
    from bot.services import backup

    settings = load_settings()
    source = Path(args.path)
    revision = backup.check_backup(source)
    with database_errors("restore"):
        safety = backup.restore_database(source, settings.database_path)
    print(f"restored {settings.database_path} from {source} (migration {revision})")
    if safety is not None:
        print(f"the previous database was saved as {safety}")
    return 0


def cmd_export_feedback(args: argparse.Namespace) -> int:
    """The owner's Confirm/Dismiss verdicts as CSV, to a file or stdout."""
    from bot.services import backup

    settings = load_settings()
    if args.out:
        with Path(args.out).open("w", encoding="utf-8", newline="") as handle:
            rows = backup.export_feedback(settings.database_path, handle)
        print(f"wrote {rows:,} verdicts to {args.out}", file=sys.stderr)
    else:
        backup.export_feedback(settings.database_path, sys.stdout)
    return 0
