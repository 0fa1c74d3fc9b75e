"""The one error handler: log with traceback; tell the owner once when a scheduled job fails."""

from __future__ import annotations

import logging
from html import escape

from telegram import Update
from telegram.error import TelegramError

from bot.telegram import messages
from bot.telegram.state import Context, settings_of

log = logging.getLogger(__name__)


def one_line(error: BaseException | None) -> str:
    """`Type: message` on one line, shortened."""
    if error is None:
        return "unknown error"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


async def on_error(update: object, context: Context) -> None:
    """Log every error; notify the owner of job failures (once per failure streak)."""
    error = context.error
    if update is None and context.job is None:
        # getUpdates hiccups: PTB retries by itself, nobody needs a message.
        log.warning("Telegram polling error: %s", one_line(error))
        return
    job = context.job.name if context.job else None
    log.error("unhandled error (job=%s)", job, exc_info=error)
    owner = settings_of(context).TELEGRAM_OWNER_ID
    state = context.bot_data.runtime
    if context.job is not None:
        name = context.job.name or "job"
        if state is not None:
            if name in state.failing:
                return
            state.failing.add(name)
        text = messages.job_failed(name, one_line(error))
    elif isinstance(update, Update) and update.effective_user and update.effective_user.id == owner:
        text = messages.FAILED.format(error=escape(type(error).__name__))
    else:
        return
    try:
        await context.bot.send_message(owner, text)
    except TelegramError as exc:
        log.warning("could not tell the owner about the error: %s", one_line(exc))
