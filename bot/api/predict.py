"""POST /predict: the seed's contract, answered by the stored model."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from pydantic_core import to_json

from bot.api.auth import require_token
from bot.api.schemas import PREDICT_BODY, PredictRequest, PredictResponse
from pipeline.feature_rows import MonthContext, complete_records
from pipeline.features import ALL_FEATURES

router = APIRouter(dependencies=[Depends(require_token)])
# The body is validated by PREDICT_BODY (same rules as PredictRequest, which /docs shows).
COMPONENT = "#/components/schemas/{model}"
REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": COMPONENT.format(model="PredictRequest")}}},
}


def _parse(raw: bytes) -> dict[str, Any]:
    """The body as plain dicts; a 422 naming each bad value, as FastAPI's own validation does."""
    try:
        return PREDICT_BODY.validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One float column per feature some record gives (NaN where absent), and the month."""
    present = set().union(*records)
    columns = {
        name: np.array([r.get(name) for r in records], dtype="float64")
        for name in ALL_FEATURES
        if name in present
    }
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(records)))
    frame["month"] = [r.get("month") for r in records]
    return frame


def _score(bundle: Any, body: dict[str, Any], context: MonthContext | None) -> dict[str, Any]:
    """Complete the records, score them, build the answer."""
    rows = body["records"]
    records = _records_frame(rows)
    completed = complete_records(records, list(bundle.features), context)
    probability = np.asarray(bundle.predict_proba(completed.frame), dtype="float64")
    given = body.get("threshold_override")
    override = given is not None
    threshold = float(given if override else bundle.threshold)
    names = [row.get("artist_name") or row.get("artist") for row in rows]
    months = records["month"].tolist()
    flags = (probability >= threshold).tolist()
    masks = [
        (name, np.asarray(mask, dtype=bool).tolist()) for name, mask in completed.estimated.items()
    ]
    estimated = [[name for name, mask in masks if mask[i]] for i in range(len(rows))]
    eligible = completed.eligible.tolist()
    shown = (
        probability.round(6).tolist()
        if body.get("return_probabilities", True)
        else [None] * len(rows)
    )
    return {
        "model": str(bundle.kind),
        "threshold": threshold,
        "threshold_source": "override" if override else "model",
        "predictions": [
            {
                "index": i,
                "artist_name": names[i],
                "month": months[i],
                "breakout": flags[i],
                "probability": shown[i],
                "eligible": eligible[i],
                "estimated": estimated[i],
            }
            for i in range(len(rows))
        ],
    }


def _answer(raw: bytes, bundle: Any, why: str | None, context: MonthContext | None) -> Response:
    """Validate, score and render in one worker-thread call (runs off the event loop)."""
    body = _parse(raw)
    if bundle is None:
        raise HTTPException(status_code=503, detail=why)
    return Response(to_json(_score(bundle, body, context)), media_type="application/json")


@router.post(
    "/predict",
    response_model=PredictResponse,
    openapi_extra={"requestBody": REQUEST_BODY},
    responses={
        401: {"description": "missing or wrong bearer token"},
        422: {"description": "a record misses a feature the model needs, or has unknown fields"},
        503: {"description": "no trained model yet"},
    },
)
async def predict(request: Request) -> Response:
    """Calibrated breakout probabilities and flags for feature rows (the seed's contract).

    Missing model features are derived from the record by the pipeline's definitions; those
    only bounded by it are listed in `estimated`; any that cannot be had are named in a 422.
    """
    state = request.app.state.api
    raw = await request.body()
    bundle, why = await state.models.get()
    context = await state.context.get(state.answers.version()) if bundle is not None else None
    return await asyncio.to_thread(_answer, raw, bundle, why, context)


def document_request_body(app: FastAPI) -> None:
    """Put PredictRequest (and PredictRecord) in the OpenAPI components REQUEST_BODY names."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            request = PredictRequest.model_json_schema(ref_template=COMPONENT)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(request.pop("$defs", {}))
            components["PredictRequest"] = request
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
