"""Application wiring: build_application() only assembles; post_init/post_shutdown own resources."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from telegram import BotCommand, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults

from bot.config import Settings
from bot.db.session import Database
from bot.errors import ConfigError
from bot.lastfm.client import make_http_client
from bot.metadata.fetcher import make_fetcher
from bot.services.runtime import Runtime
from bot.sources import make_lastfm_client, make_source_sync
from bot.telegram import (
    candidates,
    commands,
    errors,
    feedback,
    guard,
    jobs,
    messages,
    preferences,
    record,
    verdicts,
    why,
)
from bot.telegram.state import CONTEXT_TYPES, BotData, Clock, Context, settings_of
from bot.timeutil import utc_now

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 60
RATE_LIMIT_RETRIES = 3  # 429 -> wait retry_after and retry, up to this many times


def heartbeat_path(settings: Settings) -> Path:
    """File the bot touches every minute; the container healthcheck reads its age."""
    return settings.database_path.parent / "bot.heartbeat"


def file_base_url(base_url: str) -> str:
    """PTB's base_file_url matching a base_url like https://host/bot."""
    root = base_url.removesuffix("/bot")
    return f"{root}/file/bot" if root != base_url else base_url


def build_application(
    settings: Settings, *, clock: Clock = utc_now, schedule: bool = True
) -> Application:
    """The bot: guard in group -1, one handler module per command group, one error handler."""
    settings.require("TELEGRAM_BOT_TOKEN", "TELEGRAM_OWNER_ID")
    assert settings.TELEGRAM_BOT_TOKEN is not None
    # Opt in to PTB 23's timedelta durations; otherwise every RetryAfter (429) warns.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    application = (
        ApplicationBuilder()
        .token(settings.TELEGRAM_BOT_TOKEN.get_secret_value())
        .base_url(settings.TELEGRAM_API_BASE_URL)
        .base_file_url(file_base_url(settings.TELEGRAM_API_BASE_URL))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .context_types(CONTEXT_TYPES)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    data: BotData = application.bot_data
    data.settings, data.clock, data.schedule = settings, clock, schedule
    application.add_handler(guard.handler(), group=-1)
    for module in (commands, candidates, why, feedback, verdicts, record, preferences):
        application.add_handlers(module.handlers())
    application.add_handlers([feedback.unknown_button_handler(), commands.fallback_handler()])
    application.add_error_handler(errors.on_error)
    return application


async def post_init(application: Application) -> None:
    """Open the database (migrating it), the HTTP client, publish commands, schedule jobs."""
    settings = settings_of(application)
    db = await Database.open(settings.DATABASE_URL)
    http = make_http_client()
    lastfm = make_lastfm_client(settings, http)
    try:
        source = make_source_sync(settings, http, lastfm=lastfm)
    except ConfigError as exc:
        source = None
        log.warning("%s; the bot works on the imported history only", exc)
    data: BotData = application.bot_data
    data.runtime = Runtime(
        settings,
        db,
        http,
        lastfm,
        source=source,
        fetcher=make_fetcher(settings, http, lastfm),
        clock=data.clock,
    )
    await application.bot.set_my_commands([BotCommand(n, d) for n, d in messages.COMMANDS])
    if data.schedule and application.job_queue is not None:
        jobs.schedule(application, application.job_queue)
        # `first` must lie after the JobQueue starts: a start date in the past skips a run.
        application.job_queue.run_repeating(heartbeat, interval=HEARTBEAT_SECONDS, first=2)


async def post_shutdown(application: Application) -> None:
    """Cancel background work, then close the HTTP client and the database."""
    state = application.bot_data.runtime
    if state is None:
        return
    for task in list(state.tasks):
        task.cancel()
    for task in list(state.tasks):
        try:
            await task
        except BaseException as exc:  # cancelled or failed: already logged where it failed
            log.debug("background task %s ended with %r", task.get_name(), exc)
    await state.http.aclose()
    await state.db.close()


async def heartbeat(context: Context) -> None:
    """Touch the heartbeat file: proof that the event loop and the scheduler run."""
    path = heartbeat_path(context.runtime.settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    log.debug("heartbeat %s at %.0f", path, time.time())
