"""Errors of the runtime layer."""

from pipeline.errors import UserError


class ConfigError(UserError):
    """A setting is missing or malformed."""

    exit_code = 2


class SourceError(UserError):
    """The listening source (Last.fm, ListenBrainz) answered something we cannot use."""
