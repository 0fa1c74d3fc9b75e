"""/record: one verdict, how the flagged artists turned out, and a chart of both."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, filters

from bot.render import render_track_record
from bot.services.record import load_track_record
from bot.telegram.state import Context
from pipeline.record import TrackRecord

CAPTION = (
    "Top: the odds I gave (grey) beside how many of those artists became core (blue). "
    "Bottom: the artists I flagged each month and what became of them."
)


def _chart(track: TrackRecord) -> bytes | None:
    """The record's PNG, in a worker thread (matplotlib is imported there)."""
    from bot.telegram import charts

    return charts.record_png(track)


async def record(update: Update, context: Context) -> None:
    """/record: the text first (it opens with the verdict), then the chart."""
    rt = context.runtime
    async with rt.db.sessions() as session:
        track = await load_track_record(session)
    message = update.effective_message
    await message.reply_text(render_track_record(track, html=True))
    png = await asyncio.to_thread(_chart, track)
    if png is not None:
        await message.reply_photo(png, caption=CAPTION)


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [CommandHandler("record", record, filters=filters.UpdateType.MESSAGE)]
