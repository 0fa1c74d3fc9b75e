"""Fixed texts the bot sends (HTML parse mode; dynamic parts are escaped by the caller)."""

from __future__ import annotations

from html import escape

from bot.lastfm.sync import SyncReport
from bot.render import clip
from bot.services.runtime import SyncProgress
from bot.services.status import JOB_NAMES
from bot.timeutil import in_words, month_name

REFUSAL = "This is a private bot. It does not answer anyone but its owner."
REFUSAL_ID = (
    "\n\nYour Telegram user id is <code>{user_id}</code>. If this is your own bot, put it in "
    "TELEGRAM_OWNER_ID and restart it."
)

COMMANDS = [
    ("start", "what this bot does and where the sync stands"),
    ("candidates", "new artists most likely to become your core artists"),
    ("why", "an artist's card: /why <artist>"),
    ("record", "how past predictions turned out"),
    ("verdicts", "your Confirm / Dismiss verdicts, with undo"),
    ("settings", "monthly push, breakout moments, weekly digest"),
    ("status", "history, last sync, next runs"),
    ("sync", "fetch new scrobbles from Last.fm or ListenBrainz now"),
    ("help", "what core and breakout mean, the commands"),
]

INTRO = (
    "<b>Breakout Artists</b>\n"
    "I watch your Last.fm or ListenBrainz listening and tell you, before it happens, which "
    "artists you discovered recently are about to become your core artists. On the 1st of each "
    "month I send the month's picks; tap ✅ Confirm or ❌ Dismiss on an artist's card and I learn "
    "from it."
)

HELP = (
    "<b>How it works</b>\n"
    "A <b>core artist</b> is one you play a lot in a calendar month: {bar}.\n"
    "A <b>breakout</b> is an artist you discovered in the last {age} months becoming core for "
    "the first time. I flag those that look like your past breakouts; “about 1 in 4” means "
    "that of the artists that looked like this one, about one in four became core for you.\n\n"
    "/candidates – the new artists most likely to break out, 5 at a time\n"
    "/why &lt;artist&gt; – an artist's card: odds, plays needed, reasons, a chart\n"
    "/record – how my past predictions turned out\n"
    "/verdicts – your verdicts, with undo\n"
    "/settings – monthly push, breakout moments, weekly digest\n"
    "/status – history, last sync, next runs\n"
    "/sync – fetch new scrobbles now (/sync full re-reads your whole history)"
)

SYNC_NOT_CONFIGURED = (
    "Sync is not configured (LISTENS_SOURCE=lastfm needs LASTFM_API_KEY and LASTFM_USERNAME, "
    "LISTENS_SOURCE=listenbrainz needs LISTENBRAINZ_USERNAME); I work on the imported history."
)
SYNC_ALREADY_RUNNING = "A sync is already running{progress}; I will not start a second one."
SYNC_STARTED = "Syncing with {source}…"
SYNC_FULL_STARTED = "Re-reading your whole {source} history (new plays are added, none doubled)…"
SYNC_USAGE = "Usage: /sync (new scrobbles) or /sync full (re-read your whole history)"
NOT_ENOUGH_HISTORY = (
    "No predictions yet: I score your listening after the first sync, then every night. {detail}"
)
CANDIDATES_USAGE = "Usage: /candidates or /candidates N (N from 1 to {max}, in digits 0-9)"
WHY_USAGE = "Usage: /why &lt;artist&gt;, for example /why Simon &amp; Garfunkel"
WHY_PICK = "Which artist? Tap one of the current candidates, or send /why &lt;artist&gt;."
WHY_DID_YOU_MEAN = "I know no artist called “{query}”. Did you mean one of these?"
WHY_UNKNOWN = "I know no artist called “{query}”, nor one close to it."
NOT_UNDERSTOOD = (
    "I did not understand “{query}”. Send an artist's name for its card; /help lists what I do."
)
CONFIRM_DISMISS_HINT = (
    "<i>✅ Confirm if you think this artist will become one of your core artists, ❌ Dismiss "
    "if not. I learn from your verdicts at the next rebuild; ↩️ Undo takes one back.</i>"
)
BAD_BUTTON = "This button is not valid."
STALE_BUTTON = "This suggestion is no longer available; send /candidates for the current list."
ALREADY_UNDONE = "That verdict was already removed."
NOT_STORED = "Your verdict was NOT saved ({problem}). Please press the button again."
UNDO_NOT_STORED = "The verdict was NOT removed ({problem}). Please press Undo again."
NO_VERDICTS = "No verdicts yet. Open an artist from /candidates and tap ✅ Confirm or ❌ Dismiss."
FAILED = "Sorry, that failed ({error}); it is logged."
JOB_FAILED = "⚠️ The {job} failed ({error}); it is logged, and I try again at its next run."


def job_failed(job: str, error: str) -> str:
    """A scheduled job's failure in one line, the job named in words (HTML, escaped)."""
    return JOB_FAILED.format(job=escape(JOB_NAMES.get(job, job)), error=escape(error))


PUSH_INTERRUPTED = (
    "⚠️ The monthly push for {month} was interrupted by a restart. It is not resent, so you "
    "never get a month twice; /candidates shows the current list."
)
ONBOARDING = "📥 Reading your {source} history: {pages}{eta}."
ONBOARDING_FINISHED = "📥 Read your {source} history: {pages:,} pages. ✅ done"
ONBOARDING_STOPPED = (
    "📥 Reading your {source} history stopped at page {page:,}; the next sync goes on from there."
)
ONBOARDING_DONE = "✅ Your history is in: {scrobbles:,} scrobbles of {artists:,} artists."
MOMENTS_MANY = "🎉 {n} artists just became core artists of yours for the first time:"


def sync_line(progress: SyncProgress) -> str:
    """One line describing a sync in progress, with an ETA once the pace is known."""
    if not progress.running:
        return ""
    pages = (
        f"page {progress.pages_done} of {progress.total_pages}"
        if progress.total_pages
        else "starting"
    )
    left = progress.seconds_left()
    eta = f", {in_words(left)} left" if left is not None else ""
    what = "Reading your whole history" if progress.mode == "backfill" else "Syncing"
    return f"{what}: {pages}{eta}, {progress.stored:,} new scrobbles stored."


def sync_done(report: SyncReport, source: str) -> str:
    """What a /sync did, in words (the log keeps the technical line)."""
    if not report.done:
        return (
            f"The {escape(source)} sync stopped early after {report.pages:,} pages; "
            "I saved my place and go on from there at the next sync."
        )
    new = f"{report.new:,} new" if report.new else "nothing new"
    read = f"{report.fetched:,} scrobble{'s' if report.fetched != 1 else ''}"
    return f"✅ Synced with {escape(source)}: {read} read, {new}."


def verdict_answer(verdict: int, artist: str, month: str, changed: bool) -> str:
    """Callback answer after a Confirm/Dismiss press (plain text, at most 200 chars)."""
    what = "Confirmed as a breakout" if verdict else "Dismissed"
    suffix = "" if changed else " (already recorded)"
    return f"{what}: {clip(artist, 80)} ({month_name(month)}){suffix}"


def undo_answer(artist: str) -> str:
    """Callback answer after an undo."""
    return f"Verdict on {clip(artist, 80)} removed."
