"""Owner-only access: one TypeHandler in group -1 stops every update from anyone else."""

from __future__ import annotations

import logging
from collections import OrderedDict

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, BaseHandler, ContextTypes, TypeHandler

from bot.telegram.messages import REFUSAL
from bot.telegram.state import settings_of

log = logging.getLogger(__name__)
REMEMBERED_STRANGERS = 10_000  # bounded memory of who already got the refusal


def _first_refusal(context: ContextTypes.DEFAULT_TYPE, user_id: int) -> bool:
    """True the first time a stranger is refused (per process)."""
    refused: OrderedDict[int, None] = context.bot_data.setdefault("refused", OrderedDict())
    if user_id in refused:
        return False
    refused[user_id] = None
    if len(refused) > REMEMBERED_STRANGERS:
        refused.popitem(last=False)
    return True


async def owner_only(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let the owner's private-chat updates through; refuse others at most once, no data."""
    owner = settings_of(context).TELEGRAM_OWNER_ID
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    user, chat = update.effective_user, update.effective_chat
    if user is not None and user.id == owner and (chat is None or chat.id == owner):
        return
    first = user is not None and _first_refusal(context, user.id)
    if first:
        log.warning("refused an update from user id %s", user.id if user else None)
    if update.callback_query is not None:
        # Always answer so the client stops its spinner; the refusal text only once.
        await update.callback_query.answer(REFUSAL if first else None)
    elif first and chat is not None and chat.type == ChatType.PRIVATE and update.effective_message:
        await update.effective_message.reply_text(REFUSAL)
    raise ApplicationHandlerStop


def handler() -> BaseHandler:
    """The guard, to be added in group -1."""
    return TypeHandler(Update, owner_only)
