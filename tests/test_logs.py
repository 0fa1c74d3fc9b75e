"""Secrets never reach the logs, tracebacks of library loggers included."""

import logging

import pytest

from bot.logs import setup_logging

TOKEN = "123456:ABC-secret_token"
API_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def root_logger():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield root
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def test_messages_and_tracebacks_are_redacted(root_logger, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    setup_logging("INFO", secrets=[TOKEN, API_KEY])
    log = logging.getLogger("telegram.ext.Updater")
    log.info("GET https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.info("GET https://ws.audioscrobbler.com/2.0/?method=x&api_key=%s&user=u", API_KEY)
    try:
        raise ConnectionError(f"https://api.telegram.org/bot{TOKEN}/getMe unreachable")
    except ConnectionError:
        log.exception("polling failed")
    err = capsys.readouterr().err
    assert TOKEN not in err and API_KEY not in err
    assert err.count("[REDACTED]") >= 3
    assert "Traceback" in err and "polling failed" in err


def test_short_secrets_do_not_mangle_ordinary_words(
    root_logger, capsys: pytest.CaptureFixture[str]
):  # type: ignore[no-untyped-def]
    setup_logging("INFO", secrets=["x", "ext", TOKEN])
    logging.getLogger("telegram.ext.Updater").info("next run of the job; token %s", TOKEN)
    err = capsys.readouterr().err
    assert "telegram.ext.Updater" in err and "next run" in err
    assert TOKEN not in err and "[REDACTED]" in err
