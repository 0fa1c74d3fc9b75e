"""Confirm / Dismiss / Undo buttons: strict parsing, a stored label, the card edited in place."""

from __future__ import annotations

from telegram import CallbackQuery, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.services.feedback import NotStored, UnknownCandidate, remove_verdict, store_verdict
from bot.telegram import messages
from bot.telegram.cards import refresh_card
from bot.telegram.keyboards import FEEDBACK_PATTERN, UNDO_PATTERN, parse_feedback, parse_undo
from bot.telegram.send import edit_quietly
from bot.telegram.state import Context
from bot.telegram.verdicts import verdicts_view


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
        result = await store_verdict(state.db.sessions, candidate_id, verdict, when)
    except UnknownCandidate:
        await query.answer(messages.STALE_BUTTON)
        return
    except NotStored as exc:
        await query.answer(messages.NOT_STORED.format(problem=exc.problem), show_alert=True)
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
    try:
        removed = await remove_verdict(state.db.sessions, feedback_id)
    except NotStored as exc:
        await query.answer(messages.UNDO_NOT_STORED.format(problem=exc.problem), show_alert=True)
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
