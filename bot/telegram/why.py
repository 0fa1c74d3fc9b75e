"""/why <artist> and the why:<artist_id> buttons: the artist's card, or "did you mean"."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.render import clip
from bot.services import queries
from bot.telegram import messages
from bot.telegram.cards import send_card
from bot.telegram.keyboards import WHY_PATTERN, parse_why, suggestion_keyboard
from bot.telegram.state import Context

QUERY_SHOWN = 100  # characters of the owner's query repeated back


async def why(update: Update, context: Context) -> None:
    """/why <artist>: the card when the name matches up to case and accents, else suggestions."""
    query = " ".join(context.args or []).strip()
    state = context.runtime
    message = update.effective_message
    if not query:
        async with state.db.sessions() as session:
            current = await queries.current_candidates(session, 5)
        keyboard = suggestion_keyboard((c.artist_id, c.artist) for c in current)
        text = messages.WHY_PICK if keyboard else messages.WHY_USAGE
        await message.reply_text(text, reply_markup=keyboard)
        return
    await _card_or_suggestions(update, context, query, messages.WHY_UNKNOWN)


async def _card_or_suggestions(update: Update, context: Context, query: str, unknown: str) -> None:
    """The artist's card when `query` names one up to case and accents, else suggestions,
    else `unknown` (formatted with the query)."""
    state = context.runtime
    async with state.db.sessions() as session:
        match = await queries.find_artist(session, query)
    if match.artist is not None and match.exact:
        await send_card(context.bot, state, update.effective_chat.id, match.artist[0])
        return
    options = ([match.artist] if match.artist else []) + match.suggestions
    keyboard = suggestion_keyboard(options[:5])
    shown = escape(clip(query, QUERY_SHOWN))
    text = messages.WHY_DID_YOU_MEAN if keyboard else unknown
    await update.effective_message.reply_text(text.format(query=shown), reply_markup=keyboard)


async def plain_name(update: Update, context: Context) -> None:
    """A message that is only text: an artist's name opens its card, like /why <name>."""
    query = (update.effective_message.text or "").strip()
    await _card_or_suggestions(update, context, query, messages.NOT_UNDERSTOOD)


async def why_button(update: Update, context: Context) -> None:
    """A why:<artist_id> button: that artist's card."""
    query = update.callback_query
    artist_id = parse_why(query.data)
    if artist_id is None:
        await query.answer(messages.BAD_BUTTON)
        return
    await query.answer()
    sent = await send_card(context.bot, context.runtime, update.effective_chat.id, artist_id)
    if not sent:
        await context.bot.send_message(update.effective_chat.id, messages.STALE_BUTTON)


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [
        CommandHandler("why", why, filters=filters.UpdateType.MESSAGE),
        CallbackQueryHandler(why_button, pattern=WHY_PATTERN),
        MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, plain_name),
    ]
