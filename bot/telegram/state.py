"""Typed bot_data: settings, the clock and the Runtime of the running bot."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.services.runtime import Clock, Runtime, SyncProgress
from bot.timeutil import utc_now

__all__ = ["BotData", "Clock", "Context", "Runtime", "SyncProgress", "get_state"]


@dataclass
class BotData:
    """What the application keeps between updates (PTB creates it empty; build fills it)."""

    settings: Settings | None = None
    clock: Clock = utc_now
    schedule: bool = True
    runtime: Runtime | None = None
    refused: OrderedDict[int, None] = field(default_factory=OrderedDict)  # strangers told


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """What every handler and job receives (PTB's `ContextTypes(context=...)`)."""

    @property
    def runtime(self) -> Runtime:
        """The Runtime of the running bot (set in post_init)."""
        return get_state(self)

    def now(self) -> datetime:
        """Current time from the injectable clock."""
        return self.bot_data.clock()


CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)


def _data(app: Application | CallbackContext) -> BotData:
    return app.bot_data  # type: ignore[return-value]


def get_state(app: Application | CallbackContext) -> Runtime:
    """The Runtime of an application (handlers use `context.runtime`); set in post_init."""
    runtime = _data(app).runtime
    assert runtime is not None, "post_init has not run"
    return runtime


def settings_of(app: Application | CallbackContext) -> Settings:
    """The settings the application was built with."""
    settings = _data(app).settings
    assert settings is not None
    return settings
