"""Inline keyboards and the one place that defines callback_data (short ids, never names)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.services.feedback import CONFIRM, DISMISS

FEEDBACK_PATTERN = r"^fb:"
WHY_PATTERN = r"^why:"
_FEEDBACK = re.compile(r"fb:([cd]):([1-9][0-9]{0,17})")
_WHY = re.compile(r"why:([1-9][0-9]{0,17})")
_VERDICT = {"c": CONFIRM, "d": DISMISS}
LABELS = {CONFIRM: ("✅ Confirm", "✅ Confirmed"), DISMISS: ("❌ Dismiss", "❌ Dismissed")}
NAME_WIDTH = 28


class Listed(Protocol):
    """What a keyboard row needs from a candidate."""

    candidate_id: int
    artist_id: int
    artist: str


def feedback_data(verdict: int, candidate_id: int) -> str:
    """callback_data of a Confirm/Dismiss button."""
    return f"fb:{'c' if verdict == CONFIRM else 'd'}:{candidate_id}"


def why_data(artist_id: int) -> str:
    """callback_data of a button that runs /why for an artist."""
    return f"why:{artist_id}"


def parse_feedback(data: str | None) -> tuple[int, int] | None:
    """(verdict, candidate_id) of well-formed feedback data, else None."""
    match = _FEEDBACK.fullmatch(data or "")
    return (_VERDICT[match.group(1)], int(match.group(2))) if match else None


def parse_why(data: str | None) -> int | None:
    """The artist id of well-formed why data, else None."""
    match = _WHY.fullmatch(data or "")
    return int(match.group(1)) if match else None


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def candidate_keyboard(candidates: Sequence[Listed]) -> InlineKeyboardMarkup | None:
    """One row per candidate: its name (runs /why), Confirm, Dismiss."""
    rows = [
        [InlineKeyboardButton(f"{n}. {_short(c.artist)}", callback_data=why_data(c.artist_id))]
        + [
            InlineKeyboardButton(LABELS[v][0], callback_data=feedback_data(v, c.candidate_id))
            for v in (CONFIRM, DISMISS)
        ]
        for n, c in enumerate(candidates, start=1)
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def mark_verdict(
    markup: InlineKeyboardMarkup, candidate_id: int, verdict: int
) -> InlineKeyboardMarkup:
    """The same keyboard with the chosen verdict shown on the candidate's row."""
    chosen = feedback_data(verdict, candidate_id)
    other = feedback_data(1 - verdict, candidate_id)
    rows = []
    for row in markup.inline_keyboard:
        new_row = []
        for button in row:
            data = button.callback_data
            if data == chosen:
                button = InlineKeyboardButton(LABELS[verdict][1], callback_data=data)
            elif data == other:
                button = InlineKeyboardButton(LABELS[1 - verdict][0], callback_data=data)
            new_row.append(button)
        rows.append(new_row)
    return InlineKeyboardMarkup(rows)


def suggestion_keyboard(suggestions: Iterable[tuple[int, str]]) -> InlineKeyboardMarkup | None:
    """One button per (artist_id, name) suggestion, each running /why for that artist."""
    rows = [
        [InlineKeyboardButton(_short(name), callback_data=why_data(aid))]
        for aid, name in suggestions
    ]
    return InlineKeyboardMarkup(rows) if rows else None  # fmt: skip
