"""/record: how the flagged artists turned out, beside the base rate."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, filters

from bot.render import render_track_record
from bot.services.record import load_track_record
from bot.telegram.state import Context


async def record(update: Update, context: Context) -> None:
    """/record."""
    rt = context.runtime
    async with rt.db.sessions() as session:
        track = await load_track_record(session)
    await update.effective_message.reply_text(render_track_record(track, html=True))


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [CommandHandler("record", record, filters=filters.UpdateType.MESSAGE)]
