"""Confirm/Dismiss buttons: strict parsing, a stored label, the verdict shown on the keyboard."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot.db.session import describe_database_error, write_with_retry
from bot.services.feedback import UnknownCandidate, record_feedback
from bot.telegram import messages
from bot.telegram.keyboards import FEEDBACK_PATTERN, mark_verdict, parse_feedback
from bot.telegram.state import get_state, now

log = logging.getLogger(__name__)

# Telegram shows a spinner until the answer, and drops answers to queries older than ~15 s.
FEEDBACK_DEADLINE_SECONDS = 8.0
NOT_STORED = "Your verdict was NOT saved ({problem}). Please press the button again."


def _on_message(query: CallbackQuery) -> bool:
    """True when the pressed data is a button of the message it came from (not forged)."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    return any(
        button.callback_data == query.data
        for row in message.reply_markup.inline_keyboard
        for button in row
    )


async def on_feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store the verdict and mark it on the keyboard; anything malformed changes nothing."""
    query = update.callback_query
    parsed = parse_feedback(query.data)
    if parsed is None or not _on_message(query):
        await query.answer(messages.BAD_BUTTON)
        return
    verdict, candidate_id = parsed
    sessions = get_state(context).db.sessions
    when = now(context)
    try:
        result = await write_with_retry(
            sessions,
            lambda session: record_feedback(session, candidate_id, verdict, when),
            deadline=FEEDBACK_DEADLINE_SECONDS,
        )
    except UnknownCandidate:
        await query.answer(messages.STALE_BUTTON)
        return
    except SQLAlchemyError as exc:
        log.warning("verdict on candidate %d not stored: %s", candidate_id, exc)
        await query.answer(NOT_STORED.format(problem=describe_database_error(exc)), show_alert=True)
        return
    await query.answer(
        messages.verdict_answer(result.verdict, result.artist, result.month, result.changed)
    )
    assert isinstance(query.message, Message) and query.message.reply_markup is not None
    try:
        await query.edit_message_reply_markup(
            mark_verdict(query.message.reply_markup, candidate_id, verdict)
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
        log.debug("keyboard already shows the verdict")


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any callback data no other handler accepts."""
    await update.callback_query.answer(messages.BAD_BUTTON)


def handlers() -> list[BaseHandler]:
    """Feedback buttons, then the catch-all for unknown buttons (must stay last)."""
    return [
        CallbackQueryHandler(on_feedback, pattern=FEEDBACK_PATTERN),
    ]


def unknown_button_handler() -> BaseHandler:
    """Answers callback queries nobody else handled."""
    return CallbackQueryHandler(on_unknown_button)
