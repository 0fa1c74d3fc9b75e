"""/candidates: the ranked list with probability, top reason and feedback buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes

from bot import render
from bot.services import queries
from bot.telegram import messages
from bot.telegram.keyboards import candidate_keyboard
from bot.telegram.send import send_html
from bot.telegram.state import get_state, settings_of

MAX_LIMIT = 50


def parse_limit(args: list[str], default: int) -> int | None:
    """The optional count argument (1..50); None when it is not a number."""
    if not args:
        return default
    return min(int(args[0]), MAX_LIMIT) if args[0].isdigit() and int(args[0]) > 0 else None


async def candidates(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the current candidates (artists the owner judged are left out by the query)."""
    limit = parse_limit(context.args or [], settings_of(context).BREAKOUT_CANDIDATES_LIMIT)
    if limit is None:
        await update.effective_message.reply_text(f"Usage: /candidates [1-{MAX_LIMIT}]")
        return
    state = get_state(context)
    async with state.db.sessions() as session:
        run = await queries.latest_run(session)
        shown = await queries.current_candidates(session, limit)
    if run is None:
        p = state.progress
        detail = messages.sync_line(p.running, p.pages_done, p.total_pages, p.stored, p.mode)
        await update.effective_message.reply_text(messages.NOT_ENOUGH_HISTORY.format(detail=detail))
        return
    # With a run but nobody eligible, the renderer says why (fallback reason, no candidates).
    text = render.render_candidates(shown, run, html=True)
    await send_html(context.bot, update.effective_chat.id, text, candidate_keyboard(shown))


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [CommandHandler("candidates", candidates)]
