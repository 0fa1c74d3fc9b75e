"""Settings: defaults, .env, one-line errors naming the variable, exit code 2."""

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.errors import ConfigError


def test_defaults_need_no_environment() -> None:
    settings = load_settings()
    assert settings.DATABASE_URL.startswith("sqlite+aiosqlite:///")
    assert settings.LASTFM_REQUESTS_PER_SECOND == 4
    assert settings.LASTFM_API_URL == "https://ws.audioscrobbler.com/2.0/"
    assert settings.TELEGRAM_API_BASE_URL == "https://api.telegram.org/bot"


def test_dotenv_is_read_and_empty_values_count_as_unset(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LASTFM_USERNAME=rj\nTELEGRAM_OWNER_ID=\n")
    settings = load_settings()
    assert settings.LASTFM_USERNAME == "rj"
    assert settings.TELEGRAM_OWNER_ID is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LASTFM_REQUESTS_PER_SECOND", "fast"),
        ("LASTFM_REQUESTS_PER_SECOND", "0"),
        ("TELEGRAM_OWNER_ID", "me"),
        ("BREAKOUT_TIMEZONE", "Mars/Olympus"),
        ("BREAKOUT_NIGHTLY_TIME", "25:00"),
        ("DATABASE_URL", "postgresql://x"),
    ],
)
def test_malformed_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"^invalid setting {name}: "):
        load_settings()


def test_require_names_the_missing_setting() -> None:
    with pytest.raises(ConfigError, match="missing setting LASTFM_API_KEY"):
        load_settings().require("LASTFM_API_KEY", "LASTFM_USERNAME")


def test_cli_reports_bad_setting_in_one_line_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LASTFM_REQUESTS_PER_SECOND", "fast")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: invalid setting LASTFM_REQUESTS_PER_SECOND")
    assert "Traceback" not in err
