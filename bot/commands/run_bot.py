"""`breakout bot`: run the Telegram bot with long polling until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import time
from collections.abc import Callable

import httpx
from telegram import Update
from telegram.error import InvalidToken

from bot.config import load_settings
from bot.errors import ConfigError
from bot.logs import setup_logging

log = logging.getLogger(__name__)

STARTUP_MAX_DELAY = 60.0  # seconds between attempts to reach Telegram at start, at most


def wait_for_telegram(
    base_url: str, token: str, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Block until Telegram answers getMe (backoff, one log line per failed attempt).

    Returns the number of attempts; a rejected token raises ConfigError at once.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = httpx.get(f"{base_url}{token}/getMe", timeout=10)
        except httpx.HTTPError as exc:  # the message may quote the URL, which holds the token
            problem = type(exc).__name__
        else:
            if response.status_code in (401, 404):
                raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN: check the token")
            if response.status_code == 200:
                return attempt
            problem = f"HTTP {response.status_code}"
        delay = min(STARTUP_MAX_DELAY, 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        log.warning(
            "Telegram unreachable (%s), attempt %d; retrying in %.1f s", problem, attempt, delay
        )
        sleep(delay)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    """Before polling nothing is open yet: leave at once (a full interpreter teardown with
    PTB and pandas loaded can take seconds on a busy machine). No logging here: the
    interrupted code may hold the log handler's lock."""
    os.write(2, b"stopped by SIGTERM before polling began\n")
    os._exit(128 + signum)


def cmd_bot(args: argparse.Namespace) -> int:
    """Migrate the database, then poll Telegram and run the scheduler until a stop signal."""
    # Until PTB installs its own stop handlers, SIGTERM ends the process at once: as PID 1 in
    # a container, a process without a handler never sees SIGTERM (compose would wait 30 s).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = load_settings()
    settings.require("TELEGRAM_BOT_TOKEN", "TELEGRAM_OWNER_ID")
    setup_logging(settings.LOG_LEVEL, settings.secrets)
    from bot.telegram.app import build_application, heartbeat_path  # PTB, pandas: only here

    # A heartbeat left by the previous run would report "healthy" before Telegram answers.
    heartbeat_path(settings).unlink(missing_ok=True)
    assert settings.TELEGRAM_BOT_TOKEN is not None
    wait_for_telegram(
        settings.TELEGRAM_API_BASE_URL, settings.TELEGRAM_BOT_TOKEN.get_secret_value()
    )
    application = build_application(settings)
    log.info(
        "starting the bot for owner %s (database %s)",
        settings.TELEGRAM_OWNER_ID,
        settings.database_path,
    )
    try:
        application.run_polling(
            drop_pending_updates=True, allowed_updates=Update.ALL_TYPES, bootstrap_retries=3
        )
    except InvalidToken:
        raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN: check the token") from None
    return 0
