"""Logging set-up that keeps secrets out of every log line."""

from __future__ import annotations

import logging
import re

# Real tokens and keys are 30+ characters; a shorter "secret" (a test value, a typo) would
# turn ordinary words into [REDACTED] everywhere, so only secrets this long are replaced.
MIN_SECRET_CHARS = 8
_PATTERNS = [
    re.compile(r"(api_key=)[^&\s\"']+"),
    re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"),
]


def redact(text: str, secrets: list[str]) -> str:
    """`text` with API keys, bot tokens and the given secrets replaced by a placeholder."""
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1[REDACTED]", text)
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, "[REDACTED]")
    return text


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record, tracebacks of library loggers included."""

    def __init__(self, fmt: str, secrets: list[str] | None = None) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in (secrets or []) if len(s) >= MIN_SECRET_CHARS]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def setup_logging(level: str = "INFO", secrets: list[str] | None = None) -> None:
    """Configure the root logger once; HTTP client request lines stay at WARNING."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
