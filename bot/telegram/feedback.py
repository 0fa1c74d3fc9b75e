"""Confirm / Dismiss / Undo buttons: strict parsing, a stored label, the card edited in place."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from telegram import CallbackQuery, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.db.session import ANSWER_DEADLINE_SECONDS, describe_database_error, write_with_retry
from bot.services.feedback import UnknownCandidate, record_feedback, undo_feedback
from bot.services.runtime import Runtime
from bot.telegram import messages
from bot.telegram.cards import refresh_card
from bot.telegram.keyboards import FEEDBACK_PATTERN, UNDO_PATTERN, parse_feedback, parse_undo
from bot.telegram.send import edit_quietly
from bot.telegram.state import Context
from bot.telegram.verdicts import verdicts_view

log = logging.getLogger(__name__)
T = TypeVar("T")


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


async def _store(
    query: CallbackQuery,
    rt: Runtime,
    work: Callable[..., Awaitable[T]],
    not_stored: str,
    what: str,
) -> tuple[bool, T | None]:
    """(stored, result) of a write the owner waits for; a failure is told in an alert."""
    try:
        return True, await write_with_retry(rt.db.sessions, work, deadline=ANSWER_DEADLINE_SECONDS)
    except SQLAlchemyError as exc:
        log.warning("%s not stored: %s", what, exc)
        problem = describe_database_error(exc)
        await query.answer(not_stored.format(problem=problem), show_alert=True)
        return False, None


async def on_feedback(update: Update, context: Context) -> None:
    """Store the verdict, answer at once, then show it on the card; forgeries change nothing."""
    query = update.callback_query
    parsed = parse_feedback(query.data)
    if parsed is None or not _on_message(query):
        await query.answer(messages.BAD_BUTTON)
        return
    verdict, candidate_id = parsed
    state = context.runtime
    when = context.now()
    try:
        stored, result = await _store(
            query,
            state,
            lambda session: record_feedback(session, candidate_id, verdict, when),
            messages.NOT_STORED,
            f"verdict on candidate {candidate_id}",
        )
    except UnknownCandidate:
        await query.answer(messages.STALE_BUTTON)
        return
    if not stored or result is None:
        return
    await query.answer(
        messages.verdict_answer(result.verdict, result.artist, result.month, result.changed)
    )
    assert isinstance(query.message, Message)
    await edit_quietly(refresh_card(query.message, state, result.artist_id))


async def on_undo(update: Update, context: Context) -> None:
    """Remove a verdict, from a card ('c') or from the /verdicts list ('v')."""
    query = update.callback_query
    parsed = parse_undo(query.data)
    if parsed is None or not _on_message(query):
        await query.answer(messages.BAD_BUTTON)
        return
    where, feedback_id = parsed
    state = context.runtime
    stored, removed = await _store(
        query,
        state,
        lambda session: undo_feedback(session, feedback_id),
        messages.UNDO_NOT_STORED,
        f"undo of verdict {feedback_id}",
    )
    if not stored:
        return
    if removed is None:
        await query.answer(messages.ALREADY_UNDONE)
    else:
        await query.answer(messages.undo_answer(removed.artist))
    assert isinstance(query.message, Message)
    if where == "v":
        text, keyboard = await verdicts_view(state)
        await edit_quietly(query.message.edit_text(text, reply_markup=keyboard))
    elif removed is not None:
        await edit_quietly(refresh_card(query.message, state, removed.artist_id))


async def on_unknown_button(update: Update, context: Context) -> None:
    """Any callback data no other handler accepts."""
    await update.callback_query.answer(messages.BAD_BUTTON)


def handlers() -> list[BaseHandler]:
    """Feedback and undo buttons."""
    return [
        CallbackQueryHandler(on_feedback, pattern=FEEDBACK_PATTERN),
        CallbackQueryHandler(on_undo, pattern=UNDO_PATTERN),
    ]


def unknown_button_handler() -> BaseHandler:
    """Answers callback queries nobody else handled (must stay last)."""
    return CallbackQueryHandler(on_unknown_button)
