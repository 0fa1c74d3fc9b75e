"""Texts only the bot sends (HTML parse mode; dynamic parts are escaped by the caller)."""

from __future__ import annotations

from datetime import datetime
from html import escape

REFUSAL = "This is a private bot. It does not answer anyone but its owner."

COMMANDS = [
    ("start", "what this bot does and the sync state"),
    ("candidates", "artists most likely to become core artists"),
    ("why", "why an artist is or is not a candidate: /why <artist>"),
    ("status", "stored history, last sync, model and schedule"),
    ("sync", "fetch new scrobbles from Last.fm or ListenBrainz now"),
    ("help", "how to use the bot"),
]

INTRO = (
    "<b>Breakout Artists</b>\n"
    "I watch your Last.fm or ListenBrainz listening and predict which recently discovered "
    "artists are about to become your core artists. On the 1st of each month I send last "
    "month's candidates; tap ✅ Confirm or ❌ Dismiss and I learn from it."
)

HELP = (
    "<b>Commands</b>\n"
    "/candidates [n] – the top candidates now, with probability and the main reason\n"
    "/why &lt;artist&gt; – probability vs threshold, reasons, discovery date and a chart\n"
    "/status – scrobbles stored, last sync, model and metrics, next scheduled runs\n"
    "/sync – fetch new scrobbles from your listening source now\n\n"
    "Buttons: ✅ Confirm labels an artist as a real breakout, ❌ Dismiss as not one; both "
    "remove it from the suggestions and feed the next training. You can change your mind."
)

SYNC_NOT_CONFIGURED = (
    "Sync is not configured (LISTENS_SOURCE=lastfm needs LASTFM_API_KEY and LASTFM_USERNAME, "
    "LISTENS_SOURCE=listenbrainz needs LISTENBRAINZ_USERNAME); I work on the imported history."
)
SYNC_ALREADY_RUNNING = "A sync is already running{progress}; I will not start a second one."
SYNC_STARTED = "Syncing with {source}…"
NOT_ENOUGH_HISTORY = (
    "Not enough history yet: no rebuild has scored your listening so far (the first one runs "
    "after the first sync, then every night). {detail}"
)
WHY_USAGE = "Usage: /why &lt;artist&gt;, for example /why Simon &amp; Garfunkel"
BAD_BUTTON = "This button is not valid."
STALE_BUTTON = "This suggestion is no longer available; send /candidates for the current list."
FAILED = "Sorry, that failed ({error}); it is logged."
JOB_FAILED = "⚠️ Scheduled job {job} failed: {error}"
PUSH_INTERRUPTED = (
    "⚠️ The monthly push for {month} was interrupted by a restart. It is not resent, so you "
    "never get a month twice; /candidates shows the current list."
)
PUSH_EMPTY = "<b>{month}</b>: no artist crossed the alert threshold. /candidates shows the closest."
PUSH_HEADER = "📬 <b>{month}</b> has closed. These artists crossed the alert threshold:\n\n"


def month_name(month: str) -> str:
    """ "2026-10" -> "October 2026"."""
    return datetime.strptime(month, "%Y-%m").strftime("%B %Y")


def sync_line(running: bool, pages_done: int, total_pages: int, stored: int, mode: str) -> str:
    """One line describing a sync in progress."""
    if not running:
        return ""
    pages = f"page {pages_done} of {total_pages}" if total_pages else "starting"
    return (
        f"{escape(mode.capitalize())} sync in progress: {pages}, {stored:,} new scrobbles stored."
    )


def verdict_answer(verdict: int, artist: str, month: str, changed: bool) -> str:
    """Callback answer after a Confirm/Dismiss press (plain text, at most 200 chars)."""
    what = "Confirmed as a breakout" if verdict else "Dismissed"
    suffix = "" if changed else " (already recorded)"
    return f"{what}: {artist[:80]} ({month}){suffix}"
