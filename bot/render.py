"""How candidates and explanations read, in Telegram HTML or plain text for the CLI."""

from __future__ import annotations

import html as _html
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.services.queries import CandidateView, Explanation, RunView
from pipeline.record import TrackRecord

HOT = "🔥"
TELEGRAM_LIMIT = 4096
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)[^>]*>")


class _Fmt:
    """Escaping and emphasis for one output mode."""

    def __init__(self, html: bool) -> None:
        self.html = html

    def esc(self, value: object) -> str:
        return _html.escape(str(value), quote=False) if self.html else str(value)

    def bold(self, value: object) -> str:
        return f"<b>{self.esc(value)}</b>" if self.html else str(value)

    def italic(self, value: object) -> str:
        return f"<i>{self.esc(value)}</i>" if self.html else str(value)


def percent(probability: float) -> str:
    """'63%' ('<1%' for tiny scores)."""
    value = round(probability * 100)
    return "<1%" if value < 1 and probability > 0 else f"{value}%"


def _month_name(month: str) -> str:
    try:
        return datetime.strptime(month, "%Y-%m").strftime("%B %Y")
    except ValueError:
        return month


def _section(window: str, month: str, f: _Fmt) -> str:
    if window == "trailing":
        return f.italic("Last 30 days")
    return f.italic(f"In {_month_name(month)}")


def render_candidates(
    candidates: Sequence[CandidateView], run: RunView | None, html: bool = True
) -> str:
    """The candidate list: status line, then each artist with probability and its top reason."""
    f = _Fmt(html)
    if run is None:
        return "No predictions yet: the first rebuild has not run."
    lines: list[str] = []
    if run.is_fallback:
        lines.append(f.bold(f"⏳ {run.message or 'not enough history yet'}"))
        lines.append(
            f.esc(
                "Until there is enough history for a model, artists are ranked by how close they "
                "are to becoming a core artist (plays this month against the core bar)."
            )
        )
    else:
        threshold = "" if run.threshold is None else f", alert threshold {percent(run.threshold)}"
        lines.append(f.bold("Breakout candidates") + f.esc(f" ({run.model_name}{threshold})"))
    if not candidates:
        lines.append(
            f.esc(
                "No candidates right now: no recently discovered artist has 3 or more plays "
                "that are not already yours."
            )
        )
        return "\n".join(lines)
    window = None
    for n, c in enumerate(candidates, 1):
        if c.window != window:
            window = c.window
            lines.append("")
            lines.append(_section(c.window, c.month, f))
        mark = f" {HOT}" if c.above_threshold else ""
        score = "" if run.is_fallback else f" — {percent(c.probability)}"
        lines.append(f"{n}. {f.bold(c.artist)}{f.esc(score)}{mark}")
        if c.reasons:
            lines.append(f"    {f.esc(c.reasons[0])}")
        elif c.concerns:
            lines.append(f"    {f.esc('not yet convincing: ' + c.concerns[0])}")
    if not run.is_fallback and any(c.above_threshold for c in candidates):
        lines.append("")
        lines.append(f.esc(f"{HOT} above the alert threshold"))
    return "\n".join(lines)


def _date(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%-d %b %Y")


def render_explanation(explanation: Explanation, html: bool = True) -> str:
    """Why an artist is (or is not) a candidate, in plain words."""
    f = _Fmt(html)
    e = explanation
    lines = [f.bold(e.artist)]
    if e.first_seen is not None:
        lines.append(f.esc(f"First played {_date(e.first_seen)}"))
    c = e.candidate
    fallback = e.run is not None and e.run.is_fallback
    if c is not None:
        where = "the last 30 days" if c.window == "trailing" else _month_name(c.month)
        if fallback:
            lines.append(f.esc(f"Rank {c.rank} by the simple ranking for {where}: {e.run.message}"))
        else:
            verdict = (
                f"{HOT} above the alert threshold"
                if c.above_threshold
                else "below the alert threshold"
            )
            threshold = "" if e.threshold is None else f" (threshold {percent(e.threshold)})"
            lines.append(
                f.esc(
                    f"Chance of becoming a core artist: {percent(c.probability)}{threshold}, "
                    f"{verdict}; rank {c.rank} for {where}"
                )
            )
        if c.reasons:
            lines.append(f.bold("Why:"))
            lines.extend(f"• {f.esc(r)}" for r in c.reasons)
        if c.concerns:
            lines.append(f.bold("Holding it back:"))
            lines.extend(f"• {f.esc(r)}" for r in c.concerns)
    if e.why_not:
        if c is None and e.feedback is None:
            lines.append(f.esc(f"Not a candidate: {e.why_not}"))
        else:
            lines.append(f.esc(e.why_not[0].upper() + e.why_not[1:]))
    recent = e.monthly_plays[-6:]
    if recent:
        lines.append(f.esc("Plays per month: " + ", ".join(f"{m} {p}" for m, p in recent)))
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


def _band(low: float, high: float) -> str:
    return f"{round(low * 100)}–{round(high * 100)}%"


def render_track_record(record: TrackRecord, html: bool = True) -> str:
    """How the flagged artists turned out, beside the base rate, with calibration by band."""
    f = _Fmt(html)
    if record.source == "none":
        return "No track record yet: predictions are recorded by each rebuild."
    span = f"{_month_name(record.first_month or '')} – {_month_name(record.last_month or '')}"
    if record.source == "backtest":
        head = f"Track record (backtest: what I would have said each month, {span})"
    else:
        head = f"Track record ({span})"
    lines = [f.bold(head)]
    lines.append(
        f"Flagged {record.flagged} artists: {record.became_core} became core, "
        f"{record.did_not} didn't, {record.still_open} still open."
    )
    if record.hit_rate is not None:
        decided = record.became_core + record.did_not
        line = f"Hit rate {percent(record.hit_rate)} ({record.became_core} of {decided})"
        if record.base_rate is not None:
            line += f", against {percent(record.base_rate)} of all {record.scored} artists scored"
        if record.lift is not None:
            line += f" ({record.lift:.1f}× the base rate)"
        lines.append(f.esc(line + "."))
    if record.bands:
        lines.append(f.esc("Calibration (said → came true):"))
        for b in record.bands:
            lines.append(
                f.esc(
                    f"  {_band(b.low, b.high):>8}  {b.predictions:>5} artists  "
                    f"said {percent(b.predicted):>4} → {percent(b.observed):>4}"
                )
            )
    if record.recent:
        lines.append(f.esc("Recent flags:"))
        for r in record.recent:
            verdict = "✅ became core" if r.outcome == "core" else "✗ didn't"
            lines.append(
                f"  {f.esc(r.month)}  {f.bold(r.artist)}  {percent(r.probability)}  {verdict}"
            )
    return "\n".join(lines)
