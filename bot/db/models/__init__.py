"""All tables; importing this module registers them on Base.metadata."""

from bot.db.models.base import Base
from bot.db.models.chat import BotSetting, BreakoutMoment
from bot.db.models.core import Artist, Scrobble
from bot.db.models.jobs import JobRun
from bot.db.models.metadata import ArtistMetadata
from bot.db.models.predictions import (
    ArtistStatus,
    Breakout,
    Candidate,
    CandidateReason,
    Feedback,
    ModelRun,
    Prediction,
    TrackRecordCache,
)
from bot.db.models.sync import SyncState

__all__ = [
    "Artist",
    "ArtistMetadata",
    "ArtistStatus",
    "Base",
    "BotSetting",
    "Breakout",
    "BreakoutMoment",
    "Candidate",
    "CandidateReason",
    "Feedback",
    "JobRun",
    "ModelRun",
    "Prediction",
    "Scrobble",
    "SyncState",
    "TrackRecordCache",
]
