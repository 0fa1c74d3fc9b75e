"""/why <artist> and the why:<artist_id> buttons: explanation text and a monthly-plays chart."""

from __future__ import annotations

import asyncio
from html import escape

from sqlalchemy.exc import NoResultFound
from telegram import Bot, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import render
from bot.services import queries
from bot.telegram import charts, messages
from bot.telegram.keyboards import WHY_PATTERN, parse_why, suggestion_keyboard
from bot.telegram.send import send_html
from bot.telegram.state import BotState, get_state


async def send_explanation(bot: Bot, state: BotState, chat_id: int, artist_id: int) -> bool:
    """Send the explanation and the chart of one artist; False if the artist is unknown."""
    async with state.db.sessions() as session:
        try:
            explanation = await queries.artist_explanation(session, artist_id)
        except NoResultFound:
            return False
    await send_html(bot, chat_id, render.render_explanation(explanation, html=True))
    months = [month for month, _ in explanation.monthly_plays]
    plays = [count for _, count in explanation.monthly_plays]
    if months:
        png = await asyncio.to_thread(
            charts.monthly_plays_png, months, plays, f"{explanation.artist}: plays per month"
        )
        caption = f"Monthly plays of <b>{escape(explanation.artist)}</b>"
        await bot.send_photo(chat_id, png, caption=caption)
    return True


async def why(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/why <artist>: fuzzy, case-insensitive; unknown names get the closest as buttons."""
    query = " ".join(context.args or []).strip()
    if not query:
        await update.effective_message.reply_text(messages.WHY_USAGE)
        return
    state = get_state(context)
    async with state.db.sessions() as session:
        match = await queries.find_artist(session, query)
    if match.artist is not None:
        await send_explanation(context.bot, state, update.effective_chat.id, match.artist[0])
        return
    keyboard = suggestion_keyboard(match.suggestions)
    text = f"I know no artist called “{escape(query)}”."
    if keyboard is not None:
        text += " Did you mean one of these?"
    await update.effective_message.reply_text(text, reply_markup=keyboard)


async def why_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A why:<artist_id> button: the same answer as /why for that artist."""
    query = update.callback_query
    artist_id = parse_why(query.data)
    if artist_id is None:
        await query.answer(messages.BAD_BUTTON)
        return
    await query.answer()
    sent = await send_explanation(
        context.bot, get_state(context), update.effective_chat.id, artist_id
    )
    if not sent:
        await context.bot.send_message(update.effective_chat.id, messages.STALE_BUTTON)


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [CommandHandler("why", why), CallbackQueryHandler(why_button, pattern=WHY_PATTERN)]
