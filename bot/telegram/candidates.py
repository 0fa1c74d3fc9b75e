"""/candidates: a page of artists, one button each (opens its card), "more" edits in place."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot import render
from bot.services import cards, queries
from bot.services.moments import recent_moments
from bot.services.runtime import Runtime
from bot.telegram import messages
from bot.telegram.keyboards import PAGE_PATTERN, PAGE_SIZE, candidate_keyboard, parse_page
from bot.telegram.send import edit_quietly
from bot.telegram.state import Context
from pipeline.periods import month_of, month_start

MAX_LIMIT = 50


def parse_limit(args: list[str], default: int) -> int | None:
    """The optional count argument (1..50, ASCII digits only); None when it is not one."""
    if not args:
        return default
    arg = args[0]
    if not (arg.isascii() and arg.isdigit() and len(arg) <= 6 and int(arg) > 0):
        return None
    return min(int(arg), MAX_LIMIT)


async def candidates_page(
    rt: Runtime, offset: int, size: int = PAGE_SIZE
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Text and keyboard of one page of the current candidates (or why there are none)."""
    async with rt.db.sessions() as session:
        run = await queries.latest_run(session)
        total = await queries.count_current_candidates(session)
        offset = min(offset, max(0, total - 1))
        shown = await queries.current_candidates(session, size, offset)
        top = (await queries.current_candidates(session, 1))[:1] if offset else shown[:1]
        if not shown:
            tz = rt.settings.tz
            this_month = month_of(int(rt.now().timestamp()), tz)
            since = datetime.fromtimestamp(month_start(this_month, tz), UTC)
            broke = [aid for aid, _ in await recent_moments(session, since)][:5]
            names = [await queries.artist_name(session, aid) for aid in broke]
            watched = await cards.watched(
                session, rt.now(), [n for n in names if n], tz=rt.settings.tz
            )
    if run is None:
        p = rt.progress
        detail = messages.sync_line(p)
        return messages.NOT_ENOUGH_HISTORY.format(detail=detail), None
    if not shown:
        return render.render_empty(run, watched), None
    text = render.render_candidates(
        shown, run, html=True, offset=offset, total=total, top=top[0] if top else None
    )
    return text, candidate_keyboard(shown, offset, total)


async def candidates(update: Update, context: Context) -> None:
    """/candidates [n]: the first page (n artists, 5 by default)."""
    limit = parse_limit(context.args or [], PAGE_SIZE)
    if limit is None:
        await update.effective_message.reply_text(messages.CANDIDATES_USAGE.format(max=MAX_LIMIT))
        return
    text, keyboard = await candidates_page(context.runtime, 0, limit)
    await update.effective_message.reply_text(text, reply_markup=keyboard)


async def page_button(update: Update, context: Context) -> None:
    """A more/back button: the page at its offset, in the same message."""
    query = update.callback_query
    offset = parse_page(query.data)
    if offset is None:
        await query.answer(messages.BAD_BUTTON)
        return
    await query.answer()
    text, keyboard = await candidates_page(context.runtime, offset)
    await edit_quietly(query.edit_message_text(text, reply_markup=keyboard))


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [
        CommandHandler("candidates", candidates, filters=filters.UpdateType.MESSAGE),
        CallbackQueryHandler(page_button, pattern=PAGE_PATTERN),
    ]
