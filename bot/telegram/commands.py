"""/start, /help, /status and /sync."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import (
    Application,
    BaseHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.db.models import SyncState
from bot.errors import SourceError
from bot.render import percent
from bot.services import jobruns, queries
from bot.services.status import collect_status
from bot.telegram import jobs, messages
from bot.telegram.send import send_html
from bot.telegram.state import BotState, get_state


async def sync_state_text(state: BotState) -> str:
    """Where the sync of the listening source stands, for /start and /status."""
    progress = state.progress
    if state.source is None:
        return messages.SYNC_NOT_CONFIGURED
    if progress.running:
        return messages.sync_line(
            True, progress.pages_done, progress.total_pages, progress.stored, progress.mode
        )
    async with state.db.sessions() as session:
        sync = await session.get(SyncState, state.source.state_key)
    if sync is None or sync.last_sync_at is None:
        return f"The first {state.source.name} sync (backfill) has not completed yet."
    line = f"Last sync: {sync.last_sync_at:%Y-%m-%d %H:%M} UTC ({state.source.name})."
    if sync.last_error:
        line += f"\nLast error: {escape(sync.last_error)}"
    return line


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """What the bot does and the sync or backfill state."""
    state = get_state(context)
    status = await collect_status(state.db)
    text = (
        f"{messages.INTRO}\n\n{await sync_state_text(state)}\n"
        f"Scrobbles stored: {status['scrobbles']:,}.\n\n/help lists the commands."
    )
    await update.effective_message.reply_text(text)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The command list."""
    await update.effective_message.reply_text(messages.HELP)


def _metrics(metrics: dict) -> list[str]:
    """Numeric metrics, one level of nesting flattened, at most eight."""
    flat: list[str] = []
    for key, value in metrics.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, number in items:
            if isinstance(number, int | float) and not isinstance(number, bool):
                name = f"{key} {sub}".strip()
                flat.append(f"{escape(name)} {number:.3g}")
    return flat[:8]


async def status_text(app: Application, state: BotState) -> str:
    """Stored history, sync, model, metrics and schedule."""
    tz = state.settings.tz
    status = await collect_status(state.db)
    async with state.db.sessions() as session:
        run = await queries.latest_run(session)
        latest = await jobruns.latest(session)
    lines = [
        "<b>Status</b>",
        f"Scrobbles: {status['scrobbles']:,} ({status['artists']:,} artists)",
        f"Scrobbles from {status['first_scrobble'] or '-'} to {status['last_scrobble'] or '-'}",
        await sync_state_text(state),
    ]
    if run is None:
        lines.append("Model: none yet (the nightly rebuild creates it).")
    else:
        trained = run.trained_at or run.created_at
        lines.append(
            f"Model: {escape(run.status)} {escape(run.model_name or '')}, trained "
            f"{trained.astimezone(tz):%Y-%m-%d %H:%M}, scored {escape(run.scored_month or '-')}, "
            f"alert threshold {percent(run.threshold) if run.threshold is not None else '-'}"
        )
        if run.message:
            lines.append(escape(run.message))
        lines.extend(f"  {m}" for m in _metrics(run.metrics))
    for name, when in jobs.next_runs(app.job_queue):
        lines.append(f"Next {escape(name)}: {when.astimezone(tz):%Y-%m-%d %H:%M %Z}")
    for name, job_run in sorted(latest.items()):
        lines.append(f"Last {escape(name)} ({escape(job_run.period)}): {escape(job_run.outcome)}")
    return "\n".join(lines)


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/status."""
    text = await status_text(context.application, get_state(context))
    await send_html(context.bot, update.effective_chat.id, text)


async def _sync_and_report(app: Application, update: Update) -> None:
    """Run one sync, then tell the owner what it did; failures go to the error handler."""
    chat_id = update.effective_chat.id
    try:
        period = jobs.sync_period(app) + " manual"
        async with jobs.recorded(app, jobs.SYNC, period) as record:
            report = await jobs.run_sync(app)
            if record is not None and report is not None:
                record.detail = report.message
        if report is None:
            return
        await app.bot.send_message(chat_id, escape(report.message or report.summary()))
        if report.done and report.mode == "backfill":
            await jobs.run_rebuild(app)
    except SourceError as exc:
        await app.bot.send_message(chat_id, f"Sync failed: {escape(str(exc))}")
    except Exception as exc:  # handed to the one error handler (logs, tells the owner)
        await app.process_error(update, exc)


async def sync(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sync: start a sync in the background, or say why not."""
    state = get_state(context)
    if state.source is None:
        await update.effective_message.reply_text(messages.SYNC_NOT_CONFIGURED)
        return
    if state.sync_lock.locked():
        p = state.progress
        detail = f" (page {p.pages_done} of {p.total_pages})" if p.total_pages else ""
        await update.effective_message.reply_text(
            messages.SYNC_ALREADY_RUNNING.format(progress=detail)
        )
        return
    await update.effective_message.reply_text(
        messages.SYNC_STARTED.format(source=state.source.name)
    )
    state.spawn(_sync_and_report(context.application, update), name="manual sync")


async def fallback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Anything else the owner sends."""
    await update.effective_message.reply_text("I did not understand that; /help lists what I do.")


def handlers() -> list[BaseHandler]:
    """Handlers of this module, in order."""
    return [
        CommandHandler("start", start),
        CommandHandler("help", help_command),
        CommandHandler("status", status),
        CommandHandler("sync", sync),
    ]


def fallback_handler() -> BaseHandler:
    """Last handler: unknown commands and plain text."""
    return MessageHandler(filters.ALL, fallback)
