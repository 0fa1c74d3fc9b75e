"""Settings from the environment and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/breakout.sqlite3"


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
    LASTFM_REQUESTS_PER_SECOND: float = Field(default=4.0, gt=0)

    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_OWNER_ID: int | None = None
    TELEGRAM_API_BASE_URL: str = "https://api.telegram.org/bot"

    BREAKOUT_TIMEZONE: str = "UTC"
    BREAKOUT_MODEL_DIR: Path = Path("./data/models")
    BREAKOUT_SYNC_INTERVAL_MINUTES: int = Field(default=15, ge=1)
    BREAKOUT_NIGHTLY_TIME: str = "03:00"
    BREAKOUT_MONTHLY_PUSH_TIME: str = "09:00"
    BREAKOUT_PUSH_MAX: int = Field(default=5, ge=1)
    BREAKOUT_CANDIDATES_LIMIT: int = Field(default=10, ge=1, le=50)
    BREAKOUT_MAX_ZIP_MEMBER_MB: int = Field(default=512, ge=1)
    BREAKOUT_BACKUP_KEEP: int = Field(default=7, ge=0)
    LOG_LEVEL: str = "INFO"

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith("sqlite+aiosqlite:///"):
            raise ValueError("must start with sqlite+aiosqlite:///")
        return value

    @field_validator("LASTFM_USERNAME")
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
    def tz(self) -> ZoneInfo:
        """The owner's time zone."""
        return ZoneInfo(self.BREAKOUT_TIMEZONE)

    @property
    def database_path(self) -> Path:
        """Filesystem path of the SQLite database."""
        return Path(self.DATABASE_URL.removeprefix("sqlite+aiosqlite:///"))

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
