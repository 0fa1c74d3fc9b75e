"""/settings: monthly push on/off and size, breakout moments, weekly digest (stored in the DB)."""

from __future__ import annotations

from dataclasses import replace

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.services.chat_settings import (
    ChatSettings,
    change_chat_setting,
    load_chat_settings,
    next_push_size,
)
from bot.telegram import messages
from bot.telegram.keyboards import SETTINGS_PATTERN, parse_setting, settings_keyboard
from bot.telegram.state import Context

SETTINGS_TEXT = (
    "<b>Settings</b>\n"
    "Tap a button to change it. Monthly push: the month's picks on the 1st. Breakout moments: "
    "a message when an artist becomes core for the first time. Weekly digest: on Mondays, new "
    "discoveries, who is rising and who broke out."
)


def changed(chat: ChatSettings, name: str) -> ChatSettings:
    """The settings after pressing the button of `name`."""
    if name == "size":
        return replace(chat, push_size=next_push_size(chat.push_size))
    return replace(chat, **{name: not getattr(chat, name)})


async def settings(update: Update, context: Context) -> None:
    """/settings."""
    rt = context.runtime
    async with rt.db.sessions() as session:
        chat = await load_chat_settings(session, rt.settings)
    await update.effective_message.reply_text(SETTINGS_TEXT, reply_markup=settings_keyboard(chat))


async def setting_button(update: Update, context: Context) -> None:
    """Flip or cycle one setting, store it, show the new state on the same message."""
    query = update.callback_query
    name = parse_setting(query.data)
    if name is None:
        await query.answer(messages.BAD_BUTTON)
        return
    rt = context.runtime
    field = "push_size" if name == "size" else name
    chat = await change_chat_setting(
        rt.db.sessions, rt.settings, field, lambda current: changed(current, name)
    )
    await query.answer("Saved.")
    await query.edit_message_reply_markup(settings_keyboard(chat))


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [
        CommandHandler("settings", settings, filters=filters.UpdateType.MESSAGE),
        CallbackQueryHandler(setting_button, pattern=SETTINGS_PATTERN),
    ]
