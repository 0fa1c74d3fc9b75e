"""Owner-only access: one TypeHandler in group -1 stops every update from anyone else."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.telegram import jobs
from bot.telegram.messages import REFUSAL, REFUSAL_ID
from bot.telegram.state import BotData, Context, settings_of

log = logging.getLogger(__name__)
REMEMBERED_STRANGERS = 10_000  # bounded memory of who already got the refusal


def _first_refusal(data: BotData, user_id: int) -> bool:
    """True the first time a stranger is refused (per process)."""
    if user_id in data.refused:
        return False
    data.refused[user_id] = None
    if len(data.refused) > REMEMBERED_STRANGERS:
        data.refused.popitem(last=False)
    return True


async def owner_only(update: object, context: Context) -> None:
    """Let the owner's private-chat updates through; refuse others at most once, no data."""
    owner = settings_of(context).TELEGRAM_OWNER_ID
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    user, chat = update.effective_user, update.effective_chat
    if user is not None and user.id == owner and (chat is None or chat.id == owner):
        jobs.owner_wrote(context.runtime, context.application)
        return
    first = user is not None and _first_refusal(context.bot_data, user.id)
    if first:
        log.warning("refused an update from user id %s", user.id if user else None)
    if update.callback_query is not None:
        # Always answer so the client stops its spinner; the refusal text only once.
        await update.callback_query.answer(REFUSAL if first else None)
    elif first and chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
        # Their own id is harmless to tell, and it is how an owner finds TELEGRAM_OWNER_ID.
        await update.effective_message.reply_text(REFUSAL + REFUSAL_ID.format(user_id=user.id))
    raise ApplicationHandlerStop


def handler() -> BaseHandler:
    """The guard, to be added in group -1."""
    return TypeHandler(Update, owner_only)
