"""`breakout sync [--full]`: fetch the history from Last.fm or ListenBrainz (LISTENS_SOURCE)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from bot.config import Settings, load_settings
from bot.db.session import Database, database_errors
from bot.lastfm.client import RetryPolicy, make_http_client
from bot.lastfm.sync import SyncReport
from bot.logs import setup_logging
from bot.sources import make_source_sync

# Module-level so tests can shorten the backoff of the in-process CLI.
RETRY_POLICY = RetryPolicy()


class _Bar:
    """tqdm bar on stderr fed by the sync's progress callback; knows resumed walks."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: tqdm | None = None

    def __call__(self, pages_done: int, total_pages: int, new_rows: int) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=total_pages,
                initial=pages_done - 1,
                unit="page",
                desc=self.label,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.total = total_pages
        self.bar.set_postfix(new=f"{new_rows:,}", refresh=False)
        self.bar.update(pages_done - self.bar.n)

    def close(self) -> None:
        """Leave the finished bar on screen."""
        if self.bar is not None:
            self.bar.close()


async def run_sync(settings: Settings, *, full: bool) -> SyncReport:
    """Migrate, then sync with one httpx client for the whole process."""
    async with (
        await Database.open(settings.DATABASE_URL) as db,
        make_http_client() as http,
    ):
        source = make_source_sync(settings, http, retry=RETRY_POLICY)
        bar = _Bar(source.name)
        try:
            return await source.sync(db.sessions, full=full, progress=bar)
        finally:
            bar.close()


def rescore_after(settings: Settings, report: SyncReport) -> str | None:
    """New plays are rescored with the stored model (never retrained), as the bot does after
    every sync; one line saying so, None when the sync stored nothing."""
    if not report.new:
        return None
    from bot.services.rebuild import rescore  # pandas and the pipeline: only when needed

    done = rescore(
        settings.DATABASE_URL, settings.BREAKOUT_MODEL_DIR, tz=settings.BREAKOUT_TIMEZONE
    )
    if done.status == "fallback":
        return f"rescored in {done.total_seconds:.1f} s; `breakout rebuild` trains the first model"
    return f"rescored in {done.total_seconds:.1f} s: candidates and status include the new plays"


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync, then rescore the new plays; one line each. Exit 1 when the source failed
    (progress is kept)."""
    settings = load_settings()
    settings.require_source()
    setup_logging(settings.LOG_LEVEL, secrets=settings.secrets)
    # Retry warnings go through tqdm.write, above the bar instead of through it.
    with (
        logging_redirect_tqdm(),
        database_errors("sync (progress up to the last stored page is kept)"),
    ):
        report = asyncio.run(run_sync(settings, full=args.full))
        if not report.done:
            print(f"error: {report.message}", file=sys.stderr)
            return 1
        print(report.message)
        if (line := rescore_after(settings, report)) is not None:
            print(line)
    return 0
