"""`breakout bot`: run the Telegram bot with long polling until stopped."""

from __future__ import annotations

import argparse
import logging

from telegram import Update
from telegram.error import InvalidToken

from bot.config import load_settings
from bot.errors import ConfigError
from bot.logs import setup_logging

log = logging.getLogger(__name__)


def cmd_bot(args: argparse.Namespace) -> int:
    """Migrate the database, then poll Telegram and run the scheduler until a stop signal."""
    settings = load_settings()
    settings.require("TELEGRAM_BOT_TOKEN", "TELEGRAM_OWNER_ID")
    setup_logging(settings.LOG_LEVEL, settings.secrets)
    from bot.telegram.app import build_application  # PTB and pandas load only for this command

    application = build_application(settings)
    log.info(
        "starting the bot for owner %s (database %s)",
        settings.TELEGRAM_OWNER_ID,
        settings.database_path,
    )
    try:
        application.run_polling(drop_pending_updates=True, allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN: check the token") from None
    return 0
