"""Sending HTML text that may exceed one Telegram message; editing one quietly."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.constants import MessageLimit
from telegram.error import BadRequest

from bot.render import split_message

log = logging.getLogger(__name__)


async def send_html(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    sent: list[Message] | None = None,
) -> list[Message]:
    """Send `text` in parts below Telegram's limit; the keyboard goes on the last part.

    Parts already delivered are appended to `sent` as they go, so a caller can tell after a
    failure whether anything reached the chat.
    """
    parts = split_message(text, MessageLimit.MAX_TEXT_LENGTH)
    sent = [] if sent is None else sent
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent.append(await bot.send_message(chat_id, part, reply_markup=markup if last else None))
    return sent


async def edit_quietly(edit: Awaitable[Any]) -> None:
    """Run an edit; "message is not modified" means it already shows the truth."""
    try:
        await edit
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
        log.debug("message already up to date")
