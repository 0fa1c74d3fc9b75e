"""GET /health, /candidates, /artists/{name}, /record and POST /feedback."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.auth import require_token
from bot.api.deps import SessionDep
from bot.api.schemas import ErrorResponse, FeedbackRequest, FeedbackResponse
from bot.api.views import candidate_json, explanation_json, run_json
from bot.db.models import SyncState
from bot.db.session import (
    ANSWER_DEADLINE_SECONDS,
    DatabaseError,
    has_sqlite_header,
    write_with_retry,
)
from bot.render import nothing_to_score
from bot.services import queries
from bot.services.feedback import CONFIRM, DISMISS, UnknownCandidate, record_feedback
from bot.services.metadata import cached_metadata, metadata_for
from bot.services.record import load_track_record
from bot.services.status import iso_utc
from bot.timeutil import utc_now

log = logging.getLogger(__name__)

public = APIRouter()
private = APIRouter(
    dependencies=[Depends(require_token)],
    responses={401: {"model": ErrorResponse, "description": "missing or wrong bearer token"}},
)
WHY_METADATA_BUDGET = 2.0  # seconds /artists may spend asking Last.fm for a missing card


@public.get("/health", responses={503: {"description": "the database cannot be read"}})
async def health(request: Request) -> JSONResponse:
    """Database reachable, model present, times of the last sync and rebuild (no token)."""
    state = request.app.state.api
    bundle, why = await state.models.get()
    model = {"present": bundle is not None, "detail": why}
    try:
        if not await asyncio.to_thread(has_sqlite_header, state.db.url):
            raise DatabaseError("the database file is damaged (no SQLite header)")
        async with state.db.sessions() as session:
            await session.execute(text("SELECT COUNT(*) FROM sqlite_master"))
            last_sync = (await session.execute(select(func.max(SyncState.last_sync_at)))).scalar()
            run = await queries.latest_run(session)
    except (SQLAlchemyError, DatabaseError) as exc:
        log.warning("health: database unreachable (%s)", exc)
        body = {"status": "unavailable", "database": False, "model": model}
        return JSONResponse(body, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "database": True,
            "model": model,
            "last_sync": iso_utc(last_sync),
            "last_rebuild": iso_utc(run.created_at) if run else None,
        }
    )


@private.get("/candidates", response_model=dict[str, Any])
async def candidates(
    request: Request, limit: Annotated[int | None, Query(ge=1, le=50)] = None
) -> Response:
    """The latest rebuild's candidates (the bot's /candidates), with cached metadata."""
    state = request.app.state.api
    limit = limit or state.candidates_limit
    answer, version = state.answers.get(("candidates", limit))
    if answer is None:
        async with state.db.sessions() as session:
            body = await _candidates(session, limit)
        answer = JSONResponse(jsonable_encoder(body)).body
        if body["note"] is None:  # the note about an idle history depends on the clock
            state.answers.put(("candidates", limit), version, answer)
    return Response(answer, media_type="application/json")


async def _candidates(session: AsyncSession, limit: int) -> dict[str, Any]:
    run = await queries.latest_run(session)
    found = await queries.current_candidates(session, limit)
    metas = await cached_metadata(session, [c.artist_id for c in found])
    idle = None
    if run is not None and not found:
        idle = await queries.idle_since(session, utc_now(), ZoneInfo(run.timezone))
    return {
        "run": run_json(run),
        "candidates": [candidate_json(c, metas.get(c.artist_id)) for c in found],
        "note": nothing_to_score(idle) if idle else None,
    }


@private.get("/artists/{name:path}", responses={404: {"model": ErrorResponse}})
async def artist(request: Request, session: SessionDep, name: str) -> Any:
    """The /why card of an artist: case-insensitive, fuzzy; close names in did_you_mean."""
    state = request.app.state.api
    match = await queries.find_artist(session, name)
    if match.artist is None:
        return JSONResponse(
            {
                "detail": f"no artist matching {name!r}",
                "did_you_mean": [n for _, n in match.suggestions],
            },
            status_code=404,
        )
    explanation = await queries.artist_explanation(session, match.artist[0])
    metas = await metadata_for(
        session, [explanation.artist_id], state.fetcher, budget=WHY_METADATA_BUDGET
    )
    return explanation_json(
        explanation, metas.get(explanation.artist_id), [n for _, n in match.suggestions]
    )


@private.get("/record")
async def record(session: SessionDep) -> dict[str, Any]:
    """How past predictions turned out (live once some have resolved, else the backtest's)."""
    return (await load_track_record(session)).to_json()


@private.post(
    "/feedback", response_model=FeedbackResponse, responses={404: {"model": ErrorResponse}}
)
async def feedback(request: Request, body: FeedbackRequest) -> dict[str, Any]:
    """Confirm or dismiss a candidate by id, exactly like the bot's buttons."""
    state = request.app.state.api
    verdict = CONFIRM if body.verdict == "confirm" else DISMISS
    try:
        result = await write_with_retry(
            state.db.sessions,
            lambda session: record_feedback(session, body.candidate_id, verdict),
            deadline=ANSWER_DEADLINE_SECONDS,
        )
    except UnknownCandidate as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return {
        "candidate_id": body.candidate_id,
        "artist": result.artist,
        "month": result.month,
        "verdict": body.verdict,
        "changed": result.changed,
    }
