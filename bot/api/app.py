"""The FastAPI application: state in the lifespan, routes, errors as one clear line."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.api import predict, routes
from bot.api.docs import add_offline_docs
from bot.api.guard import Guard
from bot.api.state import AnswerCache, ApiState, ContextCache, ModelCache
from bot.config import Settings
from bot.db.session import Database, describe_database_error
from bot.lastfm.client import make_http_client
from bot.metadata.fetcher import make_fetcher
from bot.services.names import name_index
from pipeline.feature_rows import RecordError

log = logging.getLogger(__name__)
DESCRIPTION = (
    "Breakout Artists over HTTP: the stored model's predictions, the candidates, the /why "
    "card, the track record, and feedback. Every endpoint but /health needs "
    "`Authorization: Bearer $BREAKOUT_API_TOKEN` when a token is set."
)


def _where(loc: tuple | list) -> str:
    """('body', 'records', 0, 'foo') -> 'records[0].foo'."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "request"


def _line(error: dict[str, Any]) -> str:
    where = _where(error.get("loc", ()))
    if error.get("type") == "extra_forbidden":
        return f"{where}: unknown field (see the PredictRecord schema at /docs)"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": _line(e), "type": e.get("type", "")}
        for e in exc.errors()[:20]
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _bad_records(request: Request, exc: RecordError) -> JSONResponse:
    detail = [{"loc": ["body", "records"], "msg": p, "type": "value_error"} for p in exc.problems]
    return JSONResponse({"detail": detail}, status_code=422)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    problem = describe_database_error(exc)
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, problem)
    return JSONResponse({"detail": f"database unavailable: {problem}"}, status_code=503)


async def _warm_name_index(database: Database) -> None:
    """Build the artist-name index in the background, so the first /artists call is quick."""
    try:
        async with database.sessions() as session:
            await name_index(session)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:  # the endpoints will say so
        log.warning("artist name index not built: %s", describe_database_error(exc))


def create_app(
    settings: Settings, db: Database | None = None, served_on: str | None = None
) -> FastAPI:
    """The API over the settings' database and model directory.

    `served_on` is the address the server listens on: without a token, only requests
    naming it (or a loopback name) in their Host header are served.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = db or await Database.open(settings.DATABASE_URL)
        http = make_http_client()
        token = settings.BREAKOUT_API_TOKEN
        app.state.api = ApiState(
            db=database,
            token=token.get_secret_value() if token else None,
            models=ModelCache(settings.BREAKOUT_MODEL_DIR),
            context=ContextCache(database, settings.tz),
            http=http,
            fetcher=make_fetcher(settings, http),
            candidates_limit=settings.BREAKOUT_CANDIDATES_LIMIT,
            answers=AnswerCache(settings.DATABASE_URL),
        )
        warm = asyncio.create_task(_warm_name_index(database))
        try:
            yield
        finally:
            warm.cancel()
            await http.aclose()
            app.state.api.answers.close()
            if db is None:
                await database.close()

    app = FastAPI(
        title="Breakout Artists",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(RecordError, _bad_records)  # type: ignore[arg-type]
    app.add_exception_handler(SQLAlchemyError, _database_unavailable)
    app.add_exception_handler(sqlite3.Error, _database_unavailable)
    token = settings.BREAKOUT_API_TOKEN
    app.add_middleware(
        Guard,  # type: ignore[arg-type]
        token=token.get_secret_value() if token else None,
        served_on=served_on,
    )
    app.include_router(routes.public)
    app.include_router(predict.router)
    app.include_router(routes.private)
    predict.document_request_body(app)
    add_offline_docs(app)
    return app
