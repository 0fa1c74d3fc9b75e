"""POST /predict: the seed's contract, answered by the stored model."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request

from bot.api.auth import require_token
from bot.api.schemas import PredictRequest, PredictResponse
from pipeline.feature_rows import MonthContext, complete_records
from pipeline.features import ALL_FEATURES

router = APIRouter(dependencies=[Depends(require_token)])


def _score(bundle: Any, body: PredictRequest, context: MonthContext | None) -> dict[str, Any]:
    """Complete the records, score them, build the answer (runs in a worker thread)."""
    rows = [r.__dict__ for r in body.records]  # every field; None where the record has none
    values = np.array([[row[f] for f in ALL_FEATURES] for row in rows], dtype="float64")
    records = pd.DataFrame(values, columns=ALL_FEATURES)
    records["month"] = [row["month"] for row in rows]
    completed = complete_records(records, list(bundle.features), context)
    probability = np.asarray(bundle.predict_proba(completed.frame), dtype="float64")
    override = body.threshold_override is not None
    threshold = float(body.threshold_override if override else bundle.threshold)
    names = [row["artist_name"] or row["artist"] for row in rows]
    months = records["month"].tolist()
    flags = (probability >= threshold).tolist()
    masks = [
        (name, np.asarray(mask, dtype=bool).tolist()) for name, mask in completed.estimated.items()
    ]
    estimated = [[name for name, mask in masks if mask[i]] for i in range(len(rows))]
    eligible = completed.eligible.tolist()
    shown = probability.round(6).tolist() if body.return_probabilities else [None] * len(rows)
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


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses={
        401: {"description": "missing or wrong bearer token"},
        422: {"description": "a record misses a feature the model needs, or has unknown fields"},
        503: {"description": "no trained model yet"},
    },
)
async def predict(request: Request, body: PredictRequest) -> dict[str, Any]:
    """Calibrated breakout probabilities and flags for feature rows (the seed's contract).

    Missing model features are derived from the record by the pipeline's definitions; those
    only bounded by it are listed in `estimated`; any that cannot be had are named in a 422.
    """
    state = request.app.state.api
    bundle, why = await state.models.get()
    if bundle is None:
        raise HTTPException(status_code=503, detail=why)
    context = await state.context.get()
    return await asyncio.to_thread(_score, bundle, body, context)
