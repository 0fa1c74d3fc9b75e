"""How the bot and the CLI talk: Telegram HTML or plain text, in words a listener reads."""

from __future__ import annotations

import html as _html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

from bot.services.queries import CandidateView, Explanation, RunView
from bot.timeutil import month_name, short_date

if TYPE_CHECKING:
    from bot.services.digest import Digest
    from pipeline.record import Resolved, TrackRecord

TELEGRAM_LIMIT = 4096
CAPTION_LIMIT = 1024
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


def shrunk_note(run: RunView | None) -> str | None:
    """A plain warning when the model pulled its odds toward the base rate (few breakouts)."""
    if run is None or not run.metrics.get("shrunk_to_base_rate"):
        return None
    return (
        "Few of your artists have broken out so far, so these odds lean toward how often "
        "any new artist of yours becomes core."
    )


def _line(n: int, c: CandidateView, run: RunView, f: Fmt) -> list[str]:
    p = c.probability
    odds_text = "" if run.is_fallback else f" — {odds(p)} ({odds_percent(p)})"
    lines = [f"{n}. {f.name(c.artist)}{f.esc(odds_text)}"]
    if c.reasons:
        lines.append(f"    {f.esc(clip(c.reasons[0], 300))}")
    return lines


def render_candidates(
    candidates: Sequence[CandidateView],
    run: RunView | None,
    html: bool = True,
    *,
    offset: int = 0,
    total: int | None = None,
) -> str:
    """One header, then each artist with its odds and main reason (one page of them)."""
    f = Fmt(html)
    if run is None:
        return "No predictions yet: the first rebuild has not run."
    total = len(candidates) if total is None else total
    shown = f" · {offset + 1}–{offset + len(candidates)} of {total}" if candidates else ""
    lines = [f.bold("Breakout candidates") + f.esc(shown)]
    if run.is_fallback:
        lines.append(
            f.esc(
                "Not enough of your history has broken out yet to learn odds, so these are "
                "ranked by how close they are to becoming core this month."
            )
        )
    elif note := shrunk_note(run):
        lines.append(f.italic(note))
    for n, c in enumerate(candidates, offset + 1):
        lines.extend(_line(n, c, run, f))
    if not run.is_fallback and candidates:
        lines.append("")
        lines.append(
            f.italic("“About 1 in 4”: of past artists that looked like this one, ")
            + f.italic("about one in four became one of your core artists.")
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Watched:
    """Why a list is empty: recent discoveries below the bar, and recent breakouts."""

    discoveries: list[tuple[str, int]]  # (name, plays in the last 30 days)
    broke_out: list[str]
    min_plays: int


def render_empty(run: RunView | None, watched: Watched, html: bool = True) -> str:
    """What to say instead of a bare "no candidates"."""
    f = Fmt(html)
    lines = [f.bold("Breakout candidates")]
    if run is None:
        lines.append(f.esc("No predictions yet: the first rebuild has not run."))
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


@dataclass(frozen=True)
class CoreProgress:
    """Where an artist stands against the core bar of the owner's month."""

    month: str
    plays: int
    needed: int  # more plays needed this month (0: already core this month)
    bar: int  # plays that make an artist core this month


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
    c = e.candidate
    if c is not None:
        where = "the last 30 days" if c.window == "trailing" else month_name(c.month)
        if e.run is not None and e.run.is_fallback:
            lines.append(f.esc(f"Rank {c.rank} of the new artists closest to core ({where})."))
        else:
            lines.append(
                f.esc(
                    odds_sentence(c.probability)[0].upper() + odds_sentence(c.probability)[1:] + "."
                )
            )
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
    elif e.why_not:
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
        lines.append(
            f.esc(
                "No new artist looks likely to break out right now; /candidates shows the closest."
            )
        )
        return "\n".join(lines)
    lines.append(f.esc("These new artists look most likely to become your core artists:"))
    for n, c in enumerate(picks, 1):
        lines.extend(_line(n, c, run, f))
    lines.append("")
    lines.append(f.esc("Tap a name for its card, with ✅ Confirm and ❌ Dismiss."))
    return "\n".join(lines)


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
