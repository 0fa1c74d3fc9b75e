"""An artist's card: text with Confirm / Dismiss / Undo, and the daily-plays chart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, Message

from bot import render
from bot.db.models import Artist, Feedback
from bot.services import cards, queries
from bot.services.feedback import latest_feedback_id
from bot.services.metadata import (
    ArtistMeta,
    cached_metadata,
    metadata_for,
    render_meta_line,
)
from bot.services.runtime import Runtime
from bot.services.status import past_core_bars
from bot.telegram import messages
from bot.telegram.keyboards import card_keyboard
from pipeline.config import PipelineConfig

CAPTION_NAME = 200
# A new card may ask Last.fm for tags this long; later it shows what is stored.
CARD_METADATA_BUDGET = 1.5


@dataclass
class Card:
    """Everything one card sends."""

    artist: str
    text: str
    keyboard: InlineKeyboardMarkup | None
    days: list
    plays: list[int]
    core_bar: int | None
    past_bars: dict[str, int]  # core bars of the complete months the chart shows


async def build_card(rt: Runtime, artist_id: int, *, fetch: bool = False) -> Card | None:
    """The card of one artist; None when unknown. `fetch`: refresh its metadata (time-bounded)."""
    tz = rt.settings.tz
    async with rt.db.sessions() as session:
        try:
            explanation = await queries.artist_explanation(session, artist_id)
        except NoResultFound:
            return None
        mbid = await session.scalar(select(Artist.mbid).where(Artist.id == artist_id))
        first_verdict = not await session.scalar(select(func.count()).select_from(Feedback))
        progress = await cards.core_progress(session, artist_id, rt.now(), tz)
        daily = await cards.daily_plays(session, artist_id, rt.now(), tz)
        months = sorted({f"{day:%Y-%m}" for day, _ in daily})[:-1]
        past_bars = await past_core_bars(session, months, tz, PipelineConfig())
        feedback_id = await latest_feedback_id(session, artist_id)
        meta = render_meta_line((await _metadata(session, rt, artist_id, fetch)).get(artist_id))
    text = render.render_explanation(explanation, html=True, progress=progress, meta=meta, tz=tz)
    text += "\n" + artist_link(explanation.artist, mbid, rt.settings.LISTENS_SOURCE)
    if explanation.candidate is not None and first_verdict:  # explained until first used
        text += "\n\n" + messages.CONFIRM_DISMISS_HINT
    candidate = explanation.candidate
    verdict = explanation.feedback.verdict if explanation.feedback else None
    keyboard = card_keyboard(candidate.candidate_id if candidate else None, verdict, feedback_id)
    return Card(
        explanation.artist,
        text,  # names and reasons are clipped: it fits one message, so it can be edited
        keyboard,
        [d for d, _ in daily],
        [n for _, n in daily],
        progress.bar if progress else None,
        past_bars,
    )


async def _metadata(
    session: AsyncSession, rt: Runtime, artist_id: int, fetch: bool
) -> dict[int, ArtistMeta]:
    """Stored tags and listeners; with `fetch`, missing or stale ones asked for first."""
    if not fetch or rt.fetcher is None:
        return await cached_metadata(session, [artist_id])
    return await metadata_for(
        session, [artist_id], rt.fetcher, budget=CARD_METADATA_BUDGET, now=rt.now()
    )


def artist_link(name: str, mbid: str | None, source: str) -> str:
    """A link to the artist's page where the plays come from (HTML, escaped)."""
    if source == "lastfm":
        url, site = (
            f"https://www.last.fm/music/{quote(name, safe='').replace('%20', '+')}",
            "Last.fm",
        )
    elif mbid:
        url, site = f"https://listenbrainz.org/artist/{quote(mbid, safe='')}", "ListenBrainz"
    else:
        url = f"https://musicbrainz.org/search?type=artist&query={quote(name, safe='')}"
        site = "MusicBrainz"
    return f'🔗 <a href="{escape(url)}">{site}</a>'


def caption(card: Card) -> str:
    """Chart caption, far below Telegram's 1024 characters whatever the name."""
    name = render.Fmt(True).name(render.clip(card.artist, CAPTION_NAME))
    return (
        f"{name}: this month against the core bar, and daily plays of the last 60 days "
        "(green: the month's running total; red: that month's core bar)."
    )


def _chart(card: Card) -> bytes:
    """The card's PNG, in a worker thread (matplotlib is imported there, on the first card)."""
    from bot.telegram import charts

    return charts.daily_plays_png(
        card.days, card.plays, render.clip(card.artist, 80), card.core_bar, card.past_bars
    )


async def send_card(bot: Bot, rt: Runtime, chat_id: int, artist_id: int) -> bool:
    """Chart first, then the card text with its buttons; False if the artist is unknown."""
    card = await build_card(rt, artist_id, fetch=True)
    if card is None:
        return False
    png = await asyncio.to_thread(_chart, card)
    await bot.send_photo(chat_id, png, caption=caption(card))
    await bot.send_message(chat_id, card.text, reply_markup=card.keyboard)
    return True


async def refresh_card(message: Message, rt: Runtime, artist_id: int) -> None:
    """Edit a card message in place after a verdict or an undo."""
    card = await build_card(rt, artist_id)
    if card is not None:
        await message.edit_text(card.text, reply_markup=card.keyboard)
