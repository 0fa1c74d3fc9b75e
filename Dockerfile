# The Breakout Artists Telegram bot. Build: docker compose build; run: docker compose up -d.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv from PyPI (no image pulls from other registries), pinned to the version that wrote uv.lock.
RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /app

# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY alembic.ini ./
COPY migrations ./migrations
COPY pipeline ./pipeline
COPY bot ./bot
RUN uv sync --locked --no-dev

RUN useradd --create-home --uid 10001 breakout \
    && mkdir -p /data \
    && chown breakout:breakout /data
USER breakout

# Database, models and the heartbeat file live on the /data volume.
ENV DATABASE_URL=sqlite+aiosqlite:////data/breakout.sqlite3 \
    BREAKOUT_MODEL_DIR=/data/models \
    MPLCONFIGDIR=/tmp/matplotlib \
    PTB_TIMEDELTA=1
VOLUME ["/data"]

# Exec form: `breakout` is PID 1 and gets SIGTERM, so PTB stops polling cleanly.
CMD ["/app/.venv/bin/breakout", "bot"]
