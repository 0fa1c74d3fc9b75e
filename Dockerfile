# The Breakout Artists Telegram bot. Build: docker compose build; run: docker compose up -d.
# Two stages: uv builds a virtualenv with the project installed non-editable and its
# bytecode compiled; the final image gets that virtualenv only (no uv, no package cache).

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# uv from PyPI (no image pulls from other registries), pinned to the version that wrote uv.lock.
RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /src

# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

# The project itself as a regular (non-editable) package: bot, pipeline and migrations
# land in site-packages with their bytecode, so nothing is compiled at start.
COPY pipeline ./pipeline
COPY bot ./bot
COPY migrations ./migrations
RUN uv sync --locked --no-dev --no-editable


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH

RUN useradd --create-home --uid 10001 breakout \
    && mkdir -p /data \
    && chown breakout:breakout /data

COPY --from=build /app/.venv /app/.venv
WORKDIR /app
USER breakout

# Database, models, backups and the heartbeat file live on the /data volume.
ENV DATABASE_URL=sqlite+aiosqlite:////data/breakout.sqlite3 \
    BREAKOUT_MODEL_DIR=/data/models \
    MPLCONFIGDIR=/tmp/matplotlib \
    PTB_TIMEDELTA=1
VOLUME ["/data"]

# Exec form: `breakout` is PID 1 and gets SIGTERM, so PTB stops polling cleanly.
CMD ["/app/.venv/bin/breakout", "bot"]
