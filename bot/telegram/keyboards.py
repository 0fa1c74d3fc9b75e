"""Inline keyboards and the one place that defines callback_data (short ids, never names)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.render import clip
from bot.services.chat_settings import ChatSettings
from bot.services.feedback import CONFIRM, DISMISS

FEEDBACK_PATTERN = r"^fb:"
WHY_PATTERN = r"^why:"
UNDO_PATTERN = r"^un:"
PAGE_PATTERN = r"^pg:"
SETTINGS_PATTERN = r"^st:"
DETAILS_PATTERN = r"^sd:"
_ID = r"([1-9][0-9]{0,17})"
_FEEDBACK = re.compile(rf"fb:([cd]):{_ID}")
_WHY = re.compile(rf"why:{_ID}")
_UNDO = re.compile(rf"un:([cv]):{_ID}")
_PAGE = re.compile(r"pg:(0|[1-9][0-9]{0,3})")
_SETTING = re.compile(r"st:(push|size|moments|digest)")
_DETAILS = re.compile(r"sd:([01])")
_VERDICT = {"c": CONFIRM, "d": DISMISS}
LABELS = {CONFIRM: ("✅ Confirm", "✅ Confirmed"), DISMISS: ("❌ Dismiss", "❌ Dismissed")}
NAME_WIDTH = 28
PAGE_SIZE = 5


class Listed(Protocol):
    """What a keyboard row needs from a candidate."""

    candidate_id: int
    artist_id: int
    artist: str


def feedback_data(verdict: int, candidate_id: int) -> str:
    """callback_data of a Confirm/Dismiss button."""
    return f"fb:{'c' if verdict == CONFIRM else 'd'}:{candidate_id}"


def why_data(artist_id: int) -> str:
    """callback_data of a button that opens an artist's card."""
    return f"why:{artist_id}"


def _match(pattern: re.Pattern[str], data: str | None) -> re.Match[str] | None:
    return pattern.fullmatch(data or "") if (data or "").isascii() else None


def parse_feedback(data: str | None) -> tuple[int, int] | None:
    """(verdict, candidate_id) of well-formed feedback data, else None."""
    match = _match(_FEEDBACK, data)
    return (_VERDICT[match.group(1)], int(match.group(2))) if match else None


def parse_why(data: str | None) -> int | None:
    """The artist id of well-formed why data, else None."""
    match = _match(_WHY, data)
    return int(match.group(1)) if match else None


def parse_undo(data: str | None) -> tuple[str, int] | None:
    """('c' card | 'v' verdict list, feedback id) of well-formed undo data, else None."""
    match = _match(_UNDO, data)
    return (match.group(1), int(match.group(2))) if match else None


def parse_page(data: str | None) -> int | None:
    """The offset of a candidates page button, else None."""
    match = _match(_PAGE, data)
    return int(match.group(1)) if match else None


def parse_setting(data: str | None) -> str | None:
    """The setting a /settings button changes, else None."""
    match = _match(_SETTING, data)
    return match.group(1) if match else None


def parse_details(data: str | None) -> bool | None:
    """True to show /status details, False to hide them, None when malformed."""
    match = _match(_DETAILS, data)
    return match.group(1) == "1" if match else None


def _short(name: str) -> str:
    return clip(name, NAME_WIDTH)


def candidate_keyboard(
    candidates: Sequence[Listed], offset: int = 0, total: int | None = None
) -> InlineKeyboardMarkup | None:
    """One button per artist (opens its card), then back/more when there are other pages."""
    rows = [
        [InlineKeyboardButton(f"{n}. {_short(c.artist)}", callback_data=why_data(c.artist_id))]
        for n, c in enumerate(candidates, start=offset + 1)
    ]
    nav = []
    if offset > 0:
        nav.append(InlineKeyboardButton("◀ back", callback_data=f"pg:{max(0, offset - PAGE_SIZE)}"))
    if total is not None and offset + len(candidates) < total:
        nav.append(InlineKeyboardButton("more ▶", callback_data=f"pg:{offset + len(candidates)}"))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows) if rows else None


def card_keyboard(candidate_id: int | None, verdict: int | None, feedback_id: int | None):
    """Confirm / Dismiss (the chosen one marked) and Undo when a verdict is stored."""
    rows = []
    if candidate_id is not None:
        rows.append(
            [
                InlineKeyboardButton(
                    LABELS[v][1 if verdict == v else 0],
                    callback_data=feedback_data(v, candidate_id),
                )
                for v in (CONFIRM, DISMISS)
            ]
        )
    if feedback_id is not None:
        rows.append([InlineKeyboardButton("↩️ Undo", callback_data=f"un:c:{feedback_id}")])
    return InlineKeyboardMarkup(rows) if rows else None


def verdicts_keyboard(verdicts: Iterable[tuple[int, str]]) -> InlineKeyboardMarkup | None:
    """One Undo button per (feedback id, artist name)."""
    rows = [
        [InlineKeyboardButton(f"↩️ Undo {_short(name)}", callback_data=f"un:v:{fid}")]
        for fid, name in verdicts
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def suggestion_keyboard(suggestions: Iterable[tuple[int, str]]) -> InlineKeyboardMarkup | None:
    """One button per (artist_id, name) suggestion, each opening that artist's card."""
    rows = [
        [InlineKeyboardButton(_short(name), callback_data=why_data(aid))]
        for aid, name in suggestions
    ]
    return InlineKeyboardMarkup(rows) if rows else None  # fmt: skip


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def settings_keyboard(chat: ChatSettings) -> InlineKeyboardMarkup:
    """One button per setting; pressing it flips (or cycles) that setting."""
    rows = [
        [InlineKeyboardButton(f"Monthly push: {_onoff(chat.push)}", callback_data="st:push")],
        [InlineKeyboardButton(f"Push size: {chat.push_size} artists", callback_data="st:size")],
        [
            InlineKeyboardButton(
                f"Breakout moments: {_onoff(chat.moments)}", callback_data="st:moments"
            )
        ],
        [InlineKeyboardButton(f"Weekly digest: {_onoff(chat.digest)}", callback_data="st:digest")],
    ]
    return InlineKeyboardMarkup(rows)


def details_keyboard(shown: bool) -> InlineKeyboardMarkup:
    """The /status button that shows or hides the technical details."""
    label, data = ("Hide details", "sd:0") if shown else ("Details", "sd:1")
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)]])
