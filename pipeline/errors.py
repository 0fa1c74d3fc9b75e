"""Errors that carry a one-line message meant for the user."""


class UserError(Exception):
    """An error whose message is shown to the user as one line, without a traceback."""

    exit_code = 1


class InputFormatError(UserError):
    """An input file could not be read or its format is unknown."""


class NotEnoughHistory(UserError):
    """The listening history is too short to train or score."""
