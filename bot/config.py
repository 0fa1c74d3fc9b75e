"""Settings from the environment and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/breakout.sqlite3"
# What each listening source needs before it can sync.
SOURCE_SETTINGS = {
    "lastfm": ("LASTFM_API_KEY", "LASTFM_USERNAME"),
    "listenbrainz": ("LISTENBRAINZ_USERNAME",),
}
SOURCE_NAMES = {"lastfm": "Last.fm", "listenbrainz": "ListenBrainz"}
DATABASE_PREFIX = "sqlite+aiosqlite:///"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_LIST = 50  # artists in one push or list: one Telegram message holds about this many
SQLITE_MAX_INT = 2**63 - 1


def _problem_with_database_path(path: str) -> str | None:
    """Why `path` cannot hold the SQLite database, or None."""
    if not path or path.startswith(":memory:") or path.startswith("file::memory:"):
        return "names no file (an in-memory database would keep nothing)"
    file = Path(path.removeprefix("file:").split("?", 1)[0]).expanduser()
    if file.is_dir():
        return f"{file} is a directory"
    if file.exists() and not file.is_file():
        return f"{file} is not a regular file"
    for parent in file.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is not a directory"
    return None


def _checked_url(value: str) -> str:
    """An http(s) URL with a host, else ValueError."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"not a URL (or a port outside 1-65535): {value[:80]!r}") from None
    if port == 0:
        raise ValueError(f"port 0 in {value[:80]!r}: use 1-65535")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {value[:80]!r}")
    return value.strip()


class Settings(BaseSettings):
    """Every setting of the program; names are fixed because other tools set them."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=True,
    )

    DATABASE_URL: str = DEFAULT_DATABASE_URL
    LASTFM_API_KEY: SecretStr | None = None
    LASTFM_USERNAME: str | None = None
    LASTFM_API_URL: str = "https://ws.audioscrobbler.com/2.0/"
    LASTFM_REQUESTS_PER_SECOND: float = Field(default=4.0, gt=0, le=1000, allow_inf_nan=False)

    LISTENS_SOURCE: Literal["lastfm", "listenbrainz"] = "lastfm"
    LISTENBRAINZ_USERNAME: str | None = None
    LISTENBRAINZ_TOKEN: SecretStr | None = None  # optional: public listens need none
    LISTENBRAINZ_API_URL: str = "https://api.listenbrainz.org"
    # ListenBrainz asks every client to stay at or below one call per second.
    LISTENBRAINZ_REQUESTS_PER_SECOND: float = Field(default=1.0, gt=0, le=1000, allow_inf_nan=False)

    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_OWNER_ID: int | None = Field(default=None, ge=1, le=2**52)  # Telegram's id range
    TELEGRAM_API_BASE_URL: str = "https://api.telegram.org/bot"

    BREAKOUT_TIMEZONE: str = "UTC"
    BREAKOUT_MODEL_DIR: Path = Path("./data/models")
    BREAKOUT_SYNC_INTERVAL_MINUTES: int = Field(default=15, ge=1, le=7 * 24 * 60)
    BREAKOUT_NIGHTLY_TIME: str = "03:00"
    BREAKOUT_MONTHLY_PUSH_TIME: str = "09:00"
    BREAKOUT_PUSH_MAX: int = Field(default=5, ge=1, le=MAX_LIST)
    BREAKOUT_CANDIDATES_LIMIT: int = Field(default=10, ge=1, le=MAX_LIST)
    BREAKOUT_MAX_ZIP_MEMBER_MB: int = Field(default=512, ge=1, le=1024 * 1024)
    BREAKOUT_BACKUP_KEEP: int = Field(default=7, ge=0, le=10_000)
    LOG_LEVEL: str = "INFO"

    # `breakout serve`: the bearer token every endpoint but /health requires.
    BREAKOUT_API_TOKEN: SecretStr | None = None
    # Artist metadata: cached this many days; Spotify is used only when both are set.
    BREAKOUT_METADATA_MAX_AGE_DAYS: int = Field(default=30, ge=1, le=3650)
    SPOTIFY_CLIENT_ID: str | None = None
    SPOTIFY_CLIENT_SECRET: SecretStr | None = None
    SPOTIFY_API_URL: str = "https://api.spotify.com/v1"
    SPOTIFY_TOKEN_URL: str = "https://accounts.spotify.com/api/token"

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(DATABASE_PREFIX):
            raise ValueError(f"must start with {DATABASE_PREFIX}")
        problem = _problem_with_database_path(value.removeprefix(DATABASE_PREFIX))
        if problem:
            raise ValueError(f"the database path {problem}")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"unknown level {value[:20]!r}; one of {', '.join(LOG_LEVELS)}")
        return value.strip().upper()

    @field_validator("BREAKOUT_API_TOKEN")
    @classmethod
    def _api_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not all("!" <= c <= "~" for c in value.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces (e.g. openssl rand -hex 32)")
        return value

    @field_validator(
        "LASTFM_API_URL", "TELEGRAM_API_BASE_URL", "SPOTIFY_API_URL", "SPOTIFY_TOKEN_URL"
    )
    @classmethod
    def _service_url(cls, value: str) -> str:
        return _checked_url(value)

    @field_validator("LISTENS_SOURCE", mode="before")
    @classmethod
    def _source(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("LISTENBRAINZ_API_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _checked_url(value).rstrip("/")

    @field_validator("LASTFM_USERNAME", "LISTENBRAINZ_USERNAME")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("BREAKOUT_TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("BREAKOUT_NIGHTLY_TIME", "BREAKOUT_MONTHLY_PUSH_TIME")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError("must be HH:MM")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @property
    def spotify_enabled(self) -> bool:
        """True when both Spotify client credentials are set."""
        return bool(self.SPOTIFY_CLIENT_ID and self.SPOTIFY_CLIENT_SECRET)

    @property
    def tz(self) -> ZoneInfo:
        """The owner's time zone."""
        return ZoneInfo(self.BREAKOUT_TIMEZONE)

    @property
    def database_path(self) -> Path:
        """Filesystem path of the SQLite database."""
        return Path(self.DATABASE_URL.removeprefix("sqlite+aiosqlite:///"))

    @property
    def source_name(self) -> str:
        """Display name of the listening source ("Last.fm", "ListenBrainz")."""
        return SOURCE_NAMES[self.LISTENS_SOURCE]

    @property
    def source_username(self) -> str | None:
        """Whose listens the chosen source syncs."""
        if self.LISTENS_SOURCE == "listenbrainz":
            return self.LISTENBRAINZ_USERNAME
        return self.LASTFM_USERNAME

    def require_source(self) -> None:
        """Raise ConfigError naming the first setting the chosen source still needs."""
        self.require(*SOURCE_SETTINGS[self.LISTENS_SOURCE])

    def source_configured(self) -> bool:
        """Whether the chosen source has every setting it needs."""
        try:
            self.require_source()
        except ConfigError:
            return False
        return True

    @property
    def secrets(self) -> list[str]:
        """Every secret that is set, for the log redaction."""
        values = (
            self.TELEGRAM_BOT_TOKEN,
            self.LASTFM_API_KEY,
            self.LISTENBRAINZ_TOKEN,
            self.BREAKOUT_API_TOKEN,
            self.SPOTIFY_CLIENT_SECRET,
        )
        return [s.get_secret_value() for s in values if s and s.get_secret_value()]

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of `names` that is unset."""
        for name in names:
            value = getattr(self, name)
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                raise ConfigError(f"missing setting {name}: set it in the environment or in .env")


def load_settings(**overrides: object) -> Settings:
    """Load settings; a malformed value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {message}") from None
