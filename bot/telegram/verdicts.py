"""/verdicts: the owner's judgements, newest first, each with Undo."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CommandHandler, filters

from bot.render import Fmt
from bot.services.feedback import count_verdicts, list_verdicts
from bot.services.runtime import Runtime
from bot.telegram import messages
from bot.telegram.keyboards import verdicts_keyboard
from bot.telegram.state import Context
from bot.timeutil import month_name, short_date

SHOWN = 10


async def verdicts_view(rt: Runtime) -> tuple[str, InlineKeyboardMarkup | None]:
    """Text and Undo buttons of the newest verdicts."""
    async with rt.db.sessions() as session:
        rows = await list_verdicts(session, SHOWN)
        total = await count_verdicts(session)
    if not rows:
        return messages.NO_VERDICTS, None
    f = Fmt(True)
    lines = [
        f.bold("Your verdicts") + (f" · newest {len(rows)} of {total}" if total > SHOWN else "")
    ]
    for row in rows:
        mark, word = ("✅", "confirmed") if row.verdict else ("❌", "dismissed")
        when = short_date(row.at, rt.settings.tz)
        lines.append(f"{mark} {f.name(row.artist)} — {word} {when} ({month_name(row.month)})")
    lines.append("")
    lines.append(f.esc("Undo removes a verdict; the artist can come back as a candidate."))
    return "\n".join(lines), verdicts_keyboard((r.feedback_id, r.artist) for r in rows)


async def verdicts(update: Update, context: Context) -> None:
    """/verdicts."""
    text, keyboard = await verdicts_view(context.runtime)
    await update.effective_message.reply_text(text, reply_markup=keyboard)


def handlers() -> list[BaseHandler]:
    """Handlers of this module."""
    return [CommandHandler("verdicts", verdicts, filters=filters.UpdateType.MESSAGE)]
