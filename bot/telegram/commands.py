"""/start, /help, /status (with details) and /sync."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.errors import SourceError
from bot.render import Fmt, detail_lines, status_lines
from bot.services import cards, orchestration
from bot.services.runtime import Runtime
from bot.services.status import load_summary, month_totals
from bot.telegram import jobs, messages
from bot.telegram.keyboards import DETAILS_PATTERN, details_keyboard, parse_details
from bot.telegram.send import edit_quietly
from bot.telegram.state import Context, get_state
from bot.timeutil import add_months, month_name
from pipeline.config import PipelineConfig

MESSAGES = filters.UpdateType.MESSAGE  # an edited old command must not run again


async def sync_state_text(rt: Runtime) -> str:
    """Where the sync of the listening source stands, for /start."""
    if rt.source is None:
        return messages.SYNC_NOT_CONFIGURED
    if rt.progress.running:
        return messages.sync_line(rt.progress)
    async with rt.db.sessions() as session:
        summary = await load_summary(session)
    if summary.last_sync is None:
        return f"I have not read your whole {rt.source.name} history yet; the first sync does that."
    return status_lines(summary, rt.settings.tz, rt.now(), [])[1] + f" ({rt.source.name})."


async def start(update: Update, context: Context) -> None:
    """What the bot does and the sync or backfill state."""
    rt = context.runtime
    async with rt.db.sessions() as session:
        summary = await load_summary(session)
    text = (
        f"{messages.INTRO}\n\n{escape(await sync_state_text(rt))}\n"
        f"Scrobbles stored: {summary.stats.scrobbles:,}.\n\n"
        "/candidates shows who may break out next; /help explains the rest."
    )
    await update.effective_message.reply_text(text)


async def help_text(rt: Runtime) -> str:
    """/help, with the core bar of this month in the listener's own numbers: the month whose
    listening set it (the busier of last month and this month so far)."""
    cfg = PipelineConfig()
    tz = rt.settings.tz
    async with rt.db.sessions() as session:
        month, total = await cards.month_total(session, rt.now(), tz)
        needed = await cards.month_bar(session, month)
        previous = add_months(month, -1)
        last = (await month_totals(session, [previous], tz))[previous]
    share = f"{cfg.core_share:.0%}"
    if needed is None:
        bar = f"{cfg.core_plays} plays, or {share} of everything you play that month if fewer"
    elif needed >= cfg.core_plays:
        bar = (
            f"{needed} plays (the most it ever takes: {share} of your "
            f"{max(total, last):,} plays a month would be more)"
        )
    elif last >= total:
        bar = (
            f"this month that is {needed} plays, {share} of the {last:,} you played in "
            f"{month_name(previous)} (busier than this month so far, {total:,} plays)"
        )
    else:
        bar = (
            f"this month that is {needed} plays, {share} of the {total:,} you played so far "
            f"(busier than {month_name(previous)}, {last:,} plays)"
        )
    return messages.HELP.format(bar=bar, age=cfg.eligible_max_age)


async def help_command(update: Update, context: Context) -> None:
    """/help."""
    await update.effective_message.reply_text(await help_text(context.runtime))


async def status_text(app: Application, rt: Runtime, details: bool) -> str:
    """Status for people; the technical lines only when asked for."""
    async with rt.db.sessions() as session:
        summary = await load_summary(session)
    f = Fmt(True)
    tz = rt.settings.tz
    lines = [f.bold("Status")]
    lines.extend(f.esc(line) for line in status_lines(summary, tz, rt.now(), jobs.next_runs(app)))
    if rt.progress.running:
        lines.append(messages.sync_line(rt.progress))
    if details:
        lines.append("")
        lines.extend(f.esc(line) for line in detail_lines(summary, tz, rt.now()))
    return "\n".join(lines)


async def status(update: Update, context: Context) -> None:
    """/status."""
    text = await status_text(context.application, context.runtime, details=False)
    await update.effective_message.reply_text(text, reply_markup=details_keyboard(False))


async def status_details(update: Update, context: Context) -> None:
    """The Details / Hide details button of /status."""
    query = update.callback_query
    shown = parse_details(query.data)
    if shown is None:
        await query.answer(messages.BAD_BUTTON)
        return
    await query.answer()
    text = await status_text(context.application, context.runtime, details=shown)
    await edit_quietly(query.edit_message_text(text, reply_markup=details_keyboard(shown)))


async def _sync_and_report(app: Application, update: Update, *, full: bool = False) -> None:
    """Run one sync, then tell the owner what it did; failures go to the error handler."""
    rt = get_state(app)
    chat_id = update.effective_chat.id
    try:
        period = orchestration.sync_period(rt) + (" full" if full else " manual")
        async with orchestration.recorded(rt, orchestration.SYNC, period) as record:
            report = await orchestration.run_sync(rt, full=full)
            if record is not None and report is not None:
                record.detail = report.message
        if report is None:
            return
        await app.bot.send_message(chat_id, messages.sync_done(report, rt.source.name))
        await jobs.after_sync(app, report)
    except SourceError as exc:
        await app.bot.send_message(chat_id, f"Sync failed: {escape(str(exc))}")
    except Exception as exc:  # handed to the one error handler (logs, tells the owner)
        await app.process_error(update, exc)


async def sync(update: Update, context: Context) -> None:
    """/sync (new scrobbles) or /sync full (re-read everything): in the background."""
    rt = context.runtime
    args = [a.lower() for a in context.args or []]
    if args not in ([], ["full"]):
        await update.effective_message.reply_text(messages.SYNC_USAGE)
        return
    if rt.source is None:
        await update.effective_message.reply_text(messages.SYNC_NOT_CONFIGURED)
        return
    if rt.sync_lock.locked():
        p = rt.progress
        detail = f" (page {p.pages_done} of {p.total_pages})" if p.total_pages else ""
        await update.effective_message.reply_text(
            messages.SYNC_ALREADY_RUNNING.format(progress=detail)
        )
        return
    started = messages.SYNC_FULL_STARTED if args else messages.SYNC_STARTED
    await update.effective_message.reply_text(started.format(source=rt.source.name))
    rt.spawn(_sync_and_report(context.application, update, full=bool(args)), name="manual sync")


async def fallback(update: Update, context: Context) -> None:
    """Anything else the owner sends."""
    await update.effective_message.reply_text("I did not understand that; /help lists what I do.")


def handlers() -> list[BaseHandler]:
    """Handlers of this module, in order."""
    return [
        CommandHandler("start", start, filters=MESSAGES),
        CommandHandler("help", help_command, filters=MESSAGES),
        CommandHandler("status", status, filters=MESSAGES),
        CommandHandler("sync", sync, filters=MESSAGES),
        CallbackQueryHandler(status_details, pattern=DETAILS_PATTERN),
    ]


def fallback_handler() -> BaseHandler:
    """Last handler: unknown commands and plain text (never edits of old messages)."""
    return MessageHandler(MESSAGES, fallback)
