# The Breakout Artists Telegram bot. Build: docker compose build; run: docker compose up -d.
# The build stage makes a virtualenv of the dependencies only (test folders, C sources and
# symbol tables removed) and, separately, the project's code with its bytecode. The final
# image gets them as two layers: a code-only change rebuilds and ships the small code layer
# (~2 MB); the dependency layer (~340 MB) stays cached until pyproject.toml or uv.lock change.

FROM python:3.11-slim AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

# binutils for `strip`; uv from PyPI (no image pulls from other registries), pinned to the
# version that wrote uv.lock.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==0.13.9"

WORKDIR /src

# Dependencies only (no dev group, not the project): reused until pyproject.toml or uv.lock
# change. Then what the bot never runs goes: the packages' own test suites (~120 MB with
# their bytecode), C/Cython sources and headers, type stubs, source maps of the API docs'
# scripts (~5 MB). Extension modules and libraries lose their symbol tables (~45 MB; the
# dynamic symbols stay, so they load and link as before). Not the wheels' vendored `*.libs`:
# auditwheel rewrote them with patchelf, and strip breaks their load segments (numpy's
# OpenBLAS then fails with "ELF load command address/offset not page-aligned"). A vendored
# library that two wheels ship byte for byte (OpenMP, gfortran, quadmath: ~5 MB) is kept
# once, the other a symlink.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project \
    && cd /app/.venv/lib/python3.11/site-packages \
    && find . -depth -type d \( -name tests -o -name test \) -exec rm -rf {} + \
    && find . -type f \( -name "*.pyx" -o -name "*.pxd" -o -name "*.pxi" -o -name "*.pyi" \
        -o -name "*.c" -o -name "*.cpp" -o -name "*.h" -o -name "*.js.map" -o -name "*.css.map" \) \
        -delete \
    && find . -type f \( -name "*.so" -o -name "*.so.*" \) -not -path "./*.libs/*" \
        -exec strip --strip-unneeded {} + \
    && find . -type f -path "./*.libs/*" -exec sha256sum {} + | sort \
    | awk '$1 == kept_hash { print kept, $2; next } { kept_hash = $1; kept = $2 }' \
    | while read -r kept duplicate; do \
        ln -sf "$(realpath --relative-to="$(dirname "$duplicate")" "$kept")" "$duplicate"; \
    done

# The project's code, compiled (the container runs as a user that cannot write bytecode).
COPY pipeline /app/code/pipeline
COPY bot /app/code/bot
COPY migrations /app/code/migrations
RUN python -m compileall -q /app/code


# The dependencies' bytecode is kept only for modules the bot and the API import (~57 MB;
# ~27 MB of it goes): docker/runtime_bytecode.py runs the demo, the bot's application, the
# API's routes and both chart kinds, then deletes the rest. This stage reruns on a code
# change, but its venv comes out byte for byte the same unless the code starts importing
# other dependency modules, so the final image's venv layer stays cached and unshipped.
FROM build AS runtime-venv
COPY docker/runtime_bytecode.py /tmp/runtime_bytecode.py
RUN cd /tmp && PYTHONPATH=/app/code /app/.venv/bin/python /tmp/runtime_bytecode.py


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/app/.venv/bin:$PATH

RUN useradd --create-home --uid 10001 breakout \
    && mkdir -p /data \
    && chown breakout:breakout /data \
    && printf '#!/bin/sh\nexec /app/.venv/bin/python -m bot.cli "$@"\n' > /usr/local/bin/breakout \
    && chmod 755 /usr/local/bin/breakout

COPY --from=runtime-venv /app/.venv /app/.venv
COPY --from=build /app/code /app
WORKDIR /app
USER breakout

# Database, models, backups and the heartbeat file live on the /data volume.
ENV DATABASE_URL=sqlite+aiosqlite:////data/breakout.sqlite3 \
    BREAKOUT_MODEL_DIR=/data/models \
    MPLCONFIGDIR=/tmp/matplotlib \
    PTB_TIMEDELTA=1
VOLUME ["/data"]

# Exec form; compose adds `init: true` (tini as PID 1 forwards SIGTERM), and the bot handles
# SIGTERM itself from its first line, so a stop never waits for the grace period.
CMD ["/app/.venv/bin/python", "-m", "bot.cli", "bot"]
