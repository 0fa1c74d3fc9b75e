"""How the bot and the CLI talk: Telegram HTML or plain text, in words a listener reads."""

from __future__ import annotations

import html as _html
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING

from bot.services.cards import CoreProgress, Watched
from bot.services.queries import CandidateView, Explanation, RunView
from bot.services.status import JOB_NAMES, Summary
from bot.timeutil import as_utc, month_name, short_date

if TYPE_CHECKING:
    from bot.services.digest import Digest
    from bot.services.moments import Moment
    from pipeline.record import Resolved, TrackRecord

TELEGRAM_LIMIT = 4096
NAME_LIMIT = 200  # an artist name inside a message; the rest becomes "…"
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>")


class Fmt:
    """Escaping and emphasis for one output mode."""

    def __init__(self, html: bool) -> None:
        self.html = html

    def esc(self, value: object) -> str:
        """Escaped text."""
        return _html.escape(str(value), quote=False) if self.html else str(value)

    def bold(self, value: object) -> str:
        """Bold, escaped."""
        return f"<b>{self.esc(value)}</b>" if self.html else str(value)

    def italic(self, value: object) -> str:
        """Italic, escaped."""
        return f"<i>{self.esc(value)}</i>" if self.html else str(value)

    def name(self, value: str) -> str:
        """An artist name, bold, clipped to NAME_LIMIT."""
        return self.bold(clip(value, NAME_LIMIT))


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def percent(probability: float) -> str:
    """'63%' ('<1%' for tiny scores)."""
    value = round(probability * 100)
    return "<1%" if value < 1 and probability > 0 else f"{value}%"


def _one_in(probability: float) -> int:
    """N of "1 in N": the one rounding every "1 in N" and its percentage come from."""
    return max(2, round(1 / probability))


def odds(probability: float) -> str:
    """A calibrated probability as a frequency: 'about 1 in 4'."""
    if probability >= 0.95:
        return "nearly all"
    if probability >= 0.45:
        return f"about {max(5, min(9, round(probability * 10)))} in 10"
    if probability < 0.01:
        return "fewer than 1 in 100"
    return f"about 1 in {_one_in(probability)}"


def odds_percent(probability: float) -> str:
    """The percentage shown beside `odds`: for "1 in N" it is 100/N rounded, so the same N
    always shows the same percentage ("1 in 29 (3%)", never also "(4%)")."""
    if 0.01 <= probability < 0.45:
        return percent(1 / _one_in(probability))
    return percent(probability)


def odds_sentence(probability: float) -> str:
    """'about 1 in 4 artists like this became core for you (25%)'."""
    return (
        f"{odds(probability)} artists like this became core for you ({odds_percent(probability)})"
    )


def from_others(run: RunView | None) -> bool:
    """True when the odds come mostly from how other listeners behave (the model's
    `evidence.source` is "prior"), not from the listener's own breakouts."""
    evidence = run.metrics.get("evidence") if run is not None else None
    return isinstance(evidence, dict) and evidence.get("source") == "prior"


def shrunk_note(run: RunView | None) -> str | None:
    """A plain warning when the odds are not mostly the listener's own (few breakouts)."""
    if from_others(run):
        evidence = run.metrics["evidence"]  # type: ignore[union-attr]
        count = evidence.get("listener_breakouts")
        if not isinstance(count, int) or count <= 0:
            return (
                "None of your new artists has broken out yet, so these odds come mostly from "
                "how listeners like you behave."
            )
        plural = "breakout" if count == 1 else "breakouts"
        return f"These odds blend your own {count} {plural} with how listeners like you behave."
    if run is None or not run.metrics.get("shrunk_to_base_rate"):
        return None
    return (
        "Few of your artists have broken out so far, so these odds lean toward how often "
        "any new artist of yours becomes core."
    )


STAR = "★"


def base_rate_words(run: RunView) -> str:
    """'any new artist of yours becomes core about 1 time in 21' ('' when not known)."""
    base = run.base_rate
    if base is None:
        return ""
    return f"any new artist of yours becomes core about 1 time in {max(2, round(1 / base))}"


def nobody_stands_out(run: RunView) -> str:
    """The honest first line when no odds are clearly above the listener's base rate."""
    words = base_rate_words(run)
    return "No new artist stands out right now" + (f": {words}." if words else ".")


def _line(n: int, c: CandidateView, run: RunView, f: Fmt) -> list[str]:
    p = c.probability
    mark = f"{STAR} " if run.stands_out(c) else ""
    odds_text = "" if run.is_fallback else f" — {odds(p)} ({odds_percent(p)})"
    lines = [f"{n}. {mark}{f.name(c.artist)}{f.esc(odds_text)}"]
    if c.reasons:  # what points to it, never what holds it back
        lines.append(f"    {f.esc(clip(c.reasons[0], 300))}")
    return lines


def _footnote(candidates: Sequence[CandidateView], run: RunView, f: Fmt) -> list[str]:
    """What the first odds on the page mean, and the star, when the page shows them."""
    said = odds(candidates[0].probability)
    lines = [
        "",
        f.italic(f"“{said[0].upper()}{said[1:]}”: of past new artists that looked like this one, ")
        + f.italic(f"{said} became one of your core artists."),
    ]
    if any(run.stands_out(c) for c in candidates):
        words = base_rate_words(run)
        lines.append(
            f.italic(
                f"{STAR} clearly more likely than usual" + (f" ({words})" if words else "") + "."
            )
        )
    return lines


def render_candidates(
    candidates: Sequence[CandidateView],
    run: RunView | None,
    html: bool = True,
    *,
    offset: int = 0,
    total: int | None = None,
    top: CandidateView | None = None,
) -> str:
    """One header, then each artist with its odds and what points to it (one page of them).

    `top` is the first artist of the whole list (the first of this page by default): when it
    does not stand out, nobody does, and the page says so before the names.
    """
    f = Fmt(html)
    if run is None:
        return "No predictions yet: the first rebuild has not run."
    total = len(candidates) if total is None else total
    shown = f" · {offset + 1}–{offset + len(candidates)} of {total}" if candidates else ""
    lines = [f.bold("Breakout candidates") + f.esc(shown)]
    top = top or (candidates[0] if candidates else None)
    if run.is_fallback:
        lines.append(
            f.esc(
                "Not enough of your history has broken out yet to learn odds, so these are "
                "ranked by how close they are to becoming core this month."
            )
        )
    elif top is not None and not run.stands_out(top):
        lines.append(f.esc(nobody_stands_out(run) + " These are the new artists I'm watching:"))
    elif note := shrunk_note(run):
        lines.append(f.italic(note))
    watching = top is not None and run.stands_out(top)  # "also watching" once, below the ★
    for n, c in enumerate(candidates, offset + 1):
        if watching and not run.stands_out(c):
            lines.append(f.italic("Also watching:"))
            watching = False
        lines.extend(_line(n, c, run, f))
    if not run.is_fallback and candidates:
        lines.extend(_footnote(candidates, run, f))
    return "\n".join(lines)


def nothing_to_score(last_scrobble: date) -> str:
    """Why an empty list stays empty: the history ended before both scoring windows."""
    return (
        f"Your last scrobble was {last_scrobble.day} {last_scrobble:%b %Y}: "
        "nothing new to score until you listen again."
    )


def render_empty(run: RunView | None, watched: Watched, html: bool = True) -> str:
    """What to say instead of a bare "no candidates"."""
    f = Fmt(html)
    lines = [f.bold("Breakout candidates")]
    if run is None:
        lines.append(f.esc("No predictions yet: the first rebuild has not run."))
    elif watched.idle_since is not None:
        lines.append(f.esc(nothing_to_score(watched.idle_since)))
    else:
        lines.append(
            f.esc(
                "Nobody right now: no artist you discovered in the last months has "
                f"{watched.min_plays} or more plays in the last 30 days and is not core yet."
            )
        )
    if watched.discoveries:
        lines.append("")
        lines.append(f.italic("Watching (new, below the bar):"))
        lines.extend(
            f"• {f.name(n)} — {p} play{'s' if p != 1 else ''}" for n, p in watched.discoveries
        )
    if watched.broke_out:
        lines.append("")
        lines.append(f.italic("Just broke out:"))
        lines.extend(f"• {f.name(n)}" for n in watched.broke_out)
    return "\n".join(lines)


def _date(value: datetime | None, tz: tzinfo = UTC) -> str:
    return "-" if value is None else value.astimezone(tz).strftime("%-d %b %Y")


def render_explanation(
    explanation: Explanation,
    html: bool = True,
    *,
    progress: CoreProgress | None = None,
    meta: str | None = None,
    tz: tzinfo = UTC,
) -> str:
    """The card of one artist (also what /why shows): odds, core bar, reasons, verdict."""
    f = Fmt(html)
    e = explanation
    lines = [f.name(e.artist)]
    if meta:  # artist metadata, e.g. "shoegaze · dream pop · 41k listeners"
        lines.append(f.italic(clip(meta, 300)))
    if e.first_seen is not None:
        lines.append(f.esc(f"First played {_date(e.first_seen, tz)}"))
    core_already = progress is not None and progress.needed <= 0
    # Core already: odds and reasons of becoming core would be stale news.
    c = None if core_already else e.candidate
    if c is not None:
        where = "the last 30 days" if c.window == "trailing" else month_name(c.month)
        if e.run is not None and e.run.is_fallback:
            lines.append(f.esc(f"Rank {c.rank} of the new artists closest to core ({where})."))
        else:
            said = odds_sentence(c.probability)
            if from_others(e.run):
                said = (
                    f"{odds(c.probability)} artists like this become core "
                    f"({odds_percent(c.probability)}), mostly from how listeners like you behave"
                )
            lines.append(f.esc(said[0].upper() + said[1:] + "."))
    if progress is not None:
        lines.append(f.esc(_progress_sentence(progress)))
    if c is not None and c.reasons:
        lines.append(f.bold("What points to it:"))
        lines.extend(f"• {f.esc(clip(r, 300))}" for r in c.reasons[:3])
    if c is not None and c.concerns:
        lines.append(f.bold("What holds it back:"))
        lines.extend(f"• {f.esc(clip(r, 300))}" for r in c.concerns[:2])
    if e.feedback is not None:
        lines.append(f.esc(f"Your verdict: {e.feedback.word} on {short_date(e.feedback.at, tz)}."))
    elif e.why_not and not core_already:  # else the progress line said it
        lines.append(f.esc(("Not a candidate: " if c is None else "") + e.why_not))
    return "\n".join(lines)


def _progress_sentence(p: CoreProgress) -> str:
    if p.needed <= 0:
        return f"Core this month already: {p.plays} plays in {month_name(p.month)}."
    more = f"{p.needed} more play{'s' if p.needed != 1 else ''}"
    return f"Needs {more} this month to count as core ({p.plays} so far, {p.bar} needed)."


OUTCOME_MARK = {"core": "✅ became core", "not_core": "❌ didn't", "open": "⏳ still open"}


def _band(low: float, high: float) -> str:
    return f"{round(low * 100)}–{round(high * 100)}%"


# Fewer resolved flags than this and a hit rate says little: the verdict says "too early".
FEW_RESOLVED = 5
# Below this many resolved flags the verdict adds that they are few to go by.
FEW_TO_TRUST = 20
# (lift at least, words): how many times chance the flags came true, in words.
LIFT_WORDS = (
    (3.5, "Several times chance"),
    (2.5, "About three times chance"),
    (1.75, "About twice chance"),
    (1.25, "A little better than chance"),
    (0.8, "About chance"),
    (0.0, "Worse than chance"),
)


def verdict_sentence(record: TrackRecord) -> str:
    """One plain sentence on whether to trust the flags, by how far above chance they were."""
    decided = record.became_core + record.did_not
    base = "" if record.base_rate is None else percent(record.base_rate)
    would = record.source == "backtest"
    if record.flagged == 0:
        chance = f" Any new artist of yours became core {base} of the time." if base else ""
        return "I have not flagged any artist yet." + chance
    if decided == 0:
        return (
            "Too early to judge: none of my flags has resolved yet (an artist gets two months "
            "after the one I flagged it for)."
        )
    if decided < FEW_RESOLVED:
        verb = "has" if decided == 1 else "have"
        return (
            f"Too early to judge: only {decided} of my flags {verb} resolved so far, "
            f"and {record.became_core} came true."
        )
    hit = f"{percent(record.hit_rate or 0.0)} of the time ({record.became_core} of {decided})"
    head = (
        f"Replaying your history, my flags would have come true {hit}"
        if would
        else f"My flags came true {hit}"
    )
    if record.lift is None:
        return head + "."
    words = next(text for low, text in LIFT_WORDS if record.lift >= low)
    tail = "most flags still don't pan out" if (record.hit_rate or 0) < 0.5 else "most came true"
    if record.lift < 1.25:
        tail = "don't read much into a flag"
    if decided < FEW_TO_TRUST:
        tail += f", and {decided} resolved flags are few to go by"
    return f"{head}; any new artist of yours, {base}. {words} — {tail}."


def render_track_record(record: TrackRecord, html: bool = True) -> str:
    """The listener's own track record: the verdict, flagged artists, calibration."""
    f = Fmt(html)
    if record.source == "none":
        return f.esc(
            "No track record yet: I build it from your history after the first sync or import."
        )
    span = (
        f", {month_name(record.first_month)} – {month_name(record.last_month or '')}"
        if record.first_month
        else ""
    )
    lines = [f.bold(verdict_sentence(record)), ""]
    if not record.scored and not record.flagged:
        lines.append(f.esc("My track record needs one complete month of your history."))
        return "\n".join(lines)
    if record.source == "backtest":  # no live prediction has resolved yet
        lines.append(f.esc(f"A replay of what I would have said each month{span}."))
    else:
        lines.append(f.esc(f"My predictions{span}."))
    lines.append(
        f.esc(
            f"Flagged {record.flagged} artist{'s' if record.flagged != 1 else ''}: "
            f"{record.became_core} became core ✅, {record.did_not} didn't, "
            f"{record.still_open} still open."
        )
    )
    if record.hit_rate is not None and record.base_rate is not None:
        lines.append(
            f.esc(
                f"Of all {record.scored} new artists I scored, {percent(record.base_rate)} "
                "became core."
            )
        )
    if record.bands:
        lines.append(f.bold("How the odds held up:"))
        lines.extend(
            f.esc(
                f"• said {_band(b.low, b.high)} ({b.predictions} artists): "
                f"{percent(b.observed)} came true"
            )
            for b in record.bands
        )
    if record.recent:
        lines.append(f.bold("Recent flags:"))
        lines.extend(
            f"{f.esc(OUTCOME_MARK.get(r.outcome, r.outcome))} — {f.name(r.artist)} "
            + f.esc(f"(flagged for {month_name(r.month)}, {odds(r.probability)})")
            for r in record.recent[:10]
        )
    return "\n".join(lines)


def render_previous(previous: Sequence[Resolved], html: bool = True) -> str | None:
    """How the previous push's picks turned out, in one line (None without picks)."""
    if not previous:
        return None
    f = Fmt(html)
    parts = [
        f"{f.name(p.artist)} {f.esc(OUTCOME_MARK.get(p.outcome, p.outcome))}" for p in previous
    ]
    return f.esc("Last month's picks: ") + " · ".join(parts)


def render_push(
    month: str,
    picks: Sequence[CandidateView],
    run: RunView | None,
    previous: Sequence[Resolved],
) -> str:
    """The monthly push: one header, last push's outcome, this month's picks."""
    f = Fmt(True)
    lines = [f"📬 {f.bold(month_name(month))} has closed."]
    if (before := render_previous(previous)) is not None:
        lines.append(before)
    lines.append("")
    if not picks or run is None:
        nobody = (
            nobody_stands_out(run) if run is not None else "No new artist stands out right now."
        )
        lines.append(f.esc(nobody + " /candidates shows the new artists I'm watching."))
        return "\n".join(lines)
    lines.append(f.esc("These new artists look most likely to become your core artists:"))
    for n, c in enumerate(picks, 1):
        lines.extend(_line(n, c, run, f))
    lines.append("")
    lines.append(f.esc("Tap a name for its card, with ✅ Confirm and ❌ Dismiss."))
    return "\n".join(lines)


def render_moment(m: Moment, tz: tzinfo = UTC) -> str:
    """One breakout moment: who, how many plays, and what the list had said about it."""
    f = Fmt(True)
    artist, plays = f.name(m.artist), f"{m.plays} play{'s' if m.plays != 1 else ''}"
    text = f"🎉 {artist} just became one of your core artists — {plays} this month."
    flagged = f" I flagged it on {short_date(m.flagged_at, tz)}." if m.flagged_at else ""
    if m.listed is not None:
        place, probability = m.listed
        return text + f" It was #{place} on your list — {odds(probability)}.{flagged}"
    if m.flagged_at is not None and m.probability is not None:
        return text + f" I flagged it on {short_date(m.flagged_at, tz)} ({odds(m.probability)})."
    if m.probability is not None:
        return text + f" I didn't see this one coming (I gave it {odds(m.probability)})."
    return text + " I didn't see this one coming."


def render_digest(digest: Digest) -> str:
    """The weekly digest message."""
    f = Fmt(True)
    lines = ["🗓 " + f.bold("Your week")]
    for title, names, empty in (
        ("New discoveries", digest.discoveries, "none this week"),
        ("Rising", digest.rising, "nobody yet"),
        ("Broke out", digest.broke_out, "nobody this week"),
    ):
        shown = ", ".join(f.name(n) for n in names) if names else f.esc(empty)
        lines.append(f"{f.esc(title)}: {shown}")
    return "\n".join(lines)


def _units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _open_tags(text: str, stack: list[str]) -> list[str]:
    """Tags still open after `text`, given those open before it."""
    stack = list(stack)
    for m in _TAG.finditer(text):
        closing, name = m.group(1) == "/", m.group(2).lower()
        if not closing:
            stack.append(name)
        elif name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name)]
    return stack


def _hard_split(line: str, limit: int) -> list[str]:
    """Cut an over-long line at the last safe point (not inside a tag or an entity)."""
    parts: list[str] = []
    while _units(line) > limit:
        cut = limit
        while _units(line[:cut]) > limit:
            cut -= 1
        head = line[:cut]
        lt, amp = head.rfind("<"), head.rfind("&")
        if lt > head.rfind(">"):
            cut = lt
        elif amp > head.rfind(";"):
            cut = amp
        space = line.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space + 1
        cut = max(cut, 1)
        parts.append(line[:cut])
        line = line[cut:]
    parts.append(line)
    return parts


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Chunks of at most `limit` UTF-16 units, split on line boundaries; tags re-balanced."""
    if _units(text) <= limit:
        return [text]
    reserve = 64  # room for the closing/reopening tags carried across a split
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    stack: list[str] = []
    opening = ""
    pieces = [p for line in text.split("\n") for p in _hard_split(line, limit - reserve)]
    for piece in pieces:
        extra = _units(piece) + (1 if current else 0)
        if current and size + extra > limit - reserve:
            body = opening + "\n".join(current)
            stack = _open_tags(body, [])
            chunks.append(body + "".join(f"</{t}>" for t in reversed(stack)))
            opening = "".join(f"<{t}>" for t in stack)
            current, size = [], _units(opening)
            extra = _units(piece)
        current.append(piece)
        size += extra
    if current:
        chunks.append(opening + "\n".join(current))
    return [c for c in chunks if c.strip()] or [text[:limit]]


# /status and `breakout status`: the stored summary in words
def _day(ts: int | None, tz: tzinfo) -> str:
    if ts is None:
        return "-"
    local = datetime.fromtimestamp(ts, UTC).astimezone(tz)
    return f"{local.day} {local:%b %Y}"


def _when(moment: datetime, tz: tzinfo, now: datetime) -> str:
    local, today = moment.astimezone(tz), now.astimezone(tz)
    if local.date() == today.date():
        return f"today {local:%H:%M}"
    return f"{local.day} {local:%b} {local:%H:%M}"


def record_line(record: TrackRecord) -> str:
    """The track record in one line: the verdict /record opens with."""
    if record.source == "none":
        return "Track record: not built yet."
    return verdict_sentence(record)


def status_lines(
    s: Summary, tz: tzinfo, now: datetime, next_runs: list[tuple[str, datetime]]
) -> list[str]:
    """The status a person reads (plain text lines; the chat escapes and bolds)."""
    st = s.stats
    lines = [
        f"History: {st.scrobbles:,} scrobbles of {st.artists:,} artists, "
        f"{_day(st.first_ts, tz)} – {_day(st.last_ts, tz)}",
        "Last sync: " + (_when(s.last_sync, tz, now) if s.last_sync else "never"),
    ]
    if s.last_error:
        lines.append(f"Last sync problem: {s.last_error}")
    if next_runs:
        lines.append(
            "Next: "
            + " · ".join(f"{JOB_NAMES.get(n, n)} {_when(t, tz, now)}" for n, t in next_runs)
        )
    lines.append(record_line(s.record))
    return lines


OUTCOME_WORDS = {
    "ok": "done",
    "error": "failed",
    "interrupted": "cut short by a restart",
    "undelivered": "not delivered yet",
    "running": "running now",
}


def detail_lines(s: Summary, tz: tzinfo, now: datetime) -> list[str]:
    """The details behind the "details" button and `status`, still in words."""
    run = s.run
    if run is None:
        lines = ["Predictions: none yet (the first rebuild makes them)"]
    else:
        how = (
            "odds learned from your past breakouts"
            if run.status == "model"
            else "ranked by how close each artist is to core (too few breakouts to learn odds)"
        )
        lines = [
            f"Predictions: {how}",
            f"Last rebuild: {_when(as_utc(run.created_at), tz, now)}",
        ]
    lines.extend(
        f"Last {JOB_NAMES[job]}: {_when(at, tz, now)}, {OUTCOME_WORDS.get(outcome, outcome)}"
        for job, (at, outcome) in sorted(s.last_jobs.items())
        if job in JOB_NAMES
    )
    return lines
