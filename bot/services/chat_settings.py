"""The owner's chat settings: stored in the database, the environment gives the defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.models import BotSetting
from bot.db.session import ANSWER_DEADLINE_SECONDS, write_with_retry
from bot.timeutil import utc_now

PUSH_SIZES = (3, 5, 10)


@dataclass(frozen=True)
class ChatSettings:
    """What /settings changes."""

    push: bool = True
    push_size: int = 5
    moments: bool = True
    digest: bool = False

    @classmethod
    def defaults(cls, settings: Settings) -> ChatSettings:
        """The environment's values."""
        return cls(push_size=settings.BREAKOUT_PUSH_MAX)


def _parse(default: bool | int, raw: str) -> bool | int | None:
    """A stored value of the same type as its default; None when unreadable."""
    if isinstance(default, bool):
        return {"1": True, "0": False}.get(raw)
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else None


def _raw(value: bool | int) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


async def load_chat_settings(session: AsyncSession, settings: Settings) -> ChatSettings:
    """Stored values over the environment's defaults; unreadable rows are ignored."""
    current = ChatSettings.defaults(settings)
    stored = dict((await session.execute(select(BotSetting.key, BotSetting.value))).all())
    changes = {
        f.name: value
        for f in fields(ChatSettings)
        if f.name in stored
        and (value := _parse(getattr(current, f.name), stored[f.name])) is not None
    }
    return replace(current, **changes)


async def save_chat_setting(session: AsyncSession, name: str, value: bool | int) -> None:
    """Store one setting (the caller commits)."""
    if name not in {f.name for f in fields(ChatSettings)}:
        raise ValueError(f"unknown setting {name!r}")
    stmt = insert(BotSetting).values(key=name, value=_raw(value), updated_at=utc_now())
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": _raw(value), "updated_at": utc_now()}
    )
    await session.execute(stmt)


async def change_chat_setting(
    sessions: async_sessionmaker,
    settings: Settings,
    name: str,
    change: Callable[[ChatSettings], ChatSettings],
) -> ChatSettings:
    """Read, change and store setting `name` in one transaction, retried while SQLite is busy."""

    async def work(session: AsyncSession) -> ChatSettings:
        chat = change(await load_chat_settings(session, settings))
        await save_chat_setting(session, name, getattr(chat, name))
        return chat

    return await write_with_retry(sessions, work, deadline=ANSWER_DEADLINE_SECONDS)


def next_push_size(size: int) -> int:
    """The push size after `size` in the cycle 3 → 5 → 10 → 3."""
    larger = [s for s in PUSH_SIZES if s > size]
    return larger[0] if larger else PUSH_SIZES[0]
