"""Request and response bodies of the API (what /docs shows)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Required

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, with_config
from typing_extensions import TypedDict

from pipeline.features import ALL_FEATURES, SEED_FEATURES

MAX_RECORDS = 10_000
# strict: a JSON number only (true or "3" is refused, not read as 1.0 or 3.0)
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]

SEED_EXAMPLE: dict[str, Any] = {
    "month": "2021-06-01",
    "artist_name": "Ichiko Aoba",
    "months_since_first_seen": 9,
    "is_first_month": 0,
    "plays_t": 14,
    "plays_per_track_t": 1.0,
    "days_active_t": 1,
    "last_play_gap_days_t": 9.04582175925926,
    "track_novelty_rate_t": 0.0,
    "share_t": 0.0040287769784172,
    "total_monthly_scrobbles": 3475,
    "plays_prev3_mean": 0.3333333333333333,
    "delta_1m": 14,
    "trend_slope_3m": 6.5,
    "active_months_count_before_t": 7,
}


def _record_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {
        "month": (str | None, Field(None, max_length=32, description="YYYY-MM or YYYY-MM-DD")),
        "artist_name": (str | None, Field(None, max_length=512)),
        "artist": (str | None, Field(None, max_length=512, description="alias of artist_name")),
    }
    for name in ALL_FEATURES:
        seed = " (seed model feature)" if name in SEED_FEATURES else ""
        fields[name] = (Finite | None, Field(None, description=f"artist-month feature{seed}"))
    return fields


PredictRecord = create_model(  # type: ignore[call-overload]
    "PredictRecord",
    __config__=ConfigDict(extra="forbid"),
    __doc__="One artist-month row, as in the seed's breakout_features*.csv; unknown keys refused.",
    **_record_fields(),
)


# What POST /predict validates: the same fields and rules as PredictRequest, as plain dicts
# holding only the keys each record gives (a model instance per record with every field
# set was two thirds of the validation time), parsed straight from the body's bytes.
PredictRecordFields = with_config(ConfigDict(extra="forbid"))(
    TypedDict(  # type: ignore[operator]
        "PredictRecordFields",
        {
            "month": Annotated[str | None, Field(max_length=32)],
            "artist_name": Annotated[str | None, Field(max_length=512)],
            "artist": Annotated[str | None, Field(max_length=512)],
        }
        | {name: Finite | None for name in ALL_FEATURES},
        total=False,
    )
)


@with_config(ConfigDict(extra="forbid"))
class PredictFields(TypedDict, total=False):
    """The body PredictRequest documents."""

    records: Required[
        Annotated[list[PredictRecordFields], Field(min_length=1, max_length=MAX_RECORDS)]  # type: ignore[valid-type]
    ]
    return_probabilities: bool
    threshold_override: Annotated[float | None, Field(ge=0.0, le=1.0)]


PREDICT_BODY: TypeAdapter[PredictFields] = TypeAdapter(PredictFields)


class PredictRequest(BaseModel):
    """The seed's POST /predict body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "records": [SEED_EXAMPLE],
                    "return_probabilities": True,
                    "threshold_override": None,
                }
            ]
        },
    )

    records: list[PredictRecord] = Field(..., min_length=1, max_length=MAX_RECORDS)  # type: ignore[valid-type]
    return_probabilities: bool = True
    threshold_override: float | None = Field(None, ge=0.0, le=1.0)


class Prediction(BaseModel):
    """The model's answer for one record."""

    index: int
    artist_name: str | None
    month: str | None
    breakout: bool = Field(description="probability >= threshold")
    probability: float | None = Field(None, description="calibrated; null unless requested")
    eligible: bool = Field(description="the record meets the project's eligibility rules")
    estimated: list[str] = Field(description="model features only bounded by the record")


class PredictResponse(BaseModel):
    """Predictions in record order, with the model and threshold that made them."""

    model: str
    threshold: float
    threshold_source: Literal["model", "override"]
    predictions: list[Prediction]


class FeedbackRequest(BaseModel):
    """A verdict on a candidate, as the Confirm/Dismiss buttons give it."""

    model_config = ConfigDict(extra="forbid")

    candidate_id: int = Field(..., ge=1, le=2**62, strict=True)
    verdict: Literal["confirm", "dismiss"]


class FeedbackResponse(BaseModel):
    """What the verdict was stored for."""

    candidate_id: int
    artist: str
    month: str
    verdict: Literal["confirm", "dismiss"]
    changed: bool


class ErrorResponse(BaseModel):
    """A refusal: one line saying why."""

    detail: Any
    did_you_mean: list[str] | None = None
