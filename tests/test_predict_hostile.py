"""POST /predict: every impossible or unrepresentable value is a 422 naming the field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from bot.api.schemas import SEED_EXAMPLE
from pipeline.feature_rows import RecordError, complete_records
from pipeline.features import ALL_FEATURES, FEATURES
from tests.api_harness import serving
from tests.bot_harness import copy_seeded, seeded
from tests.test_api import AUTH, api_settings

__all__ = ["seeded"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def api(seeded: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    data_dir = copy_seeded(seeded, tmp_path_factory.mktemp("predict") / "data")
    with serving(api_settings(data_dir)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def readme_curl_body() -> str:
    """The JSON body of the README's `curl … /predict` example, exactly as printed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(curl [^`]*?/predict[^`]*?)```", text, re.S)
    assert block, "the README has no curl example for /predict"
    body = re.search(r"-d '(.*)'", block.group(1), re.S)
    assert body
    return body.group(1)


def test_the_readme_curl_example_is_answered(api: httpx.Client) -> None:
    body = readme_curl_body()
    assert json.loads(body)["records"][0]["plays_prev3_mean"] == 0.333  # rounded, as printed
    response = api.post(
        "/predict", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    (one,) = response.json()["predictions"]
    assert one["artist_name"] == "Ichiko Aoba" and 0 <= one["probability"] <= 1


HOSTILE = [
    ("days_active_t", 1e39, "days_active_t"),
    ("last_play_gap_days_t", 1e39, "last_play_gap_days_t"),
    ("plays_t", -5, "plays_t"),
    ("share_t", 1.5, "share_t"),
    ("is_first_month", 0.5, "is_first_month"),
    ("months_since_first_seen", 1e300, "months_since_first_seen"),
    ("trend_slope_3m", -1e30, "trend_slope_3m"),
    ("plays_prev3_mean", -1, "plays_prev3_mean"),
]


@pytest.mark.parametrize(("field", "value", "named"), HOSTILE)
def test_impossible_values_are_422_naming_the_field(
    api: httpx.Client, field: str, value: float, named: str
) -> None:
    record = {**SEED_EXAMPLE, field: value}
    response = api.post("/predict", json={"records": [record]}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert any(f"records[0].{named}" in d["msg"] for d in response.json()["detail"])


def test_huge_plays_and_total_are_422(api: httpx.Client) -> None:
    record = {**SEED_EXAMPLE, "plays_t": 1e308, "total_monthly_scrobbles": 1e308}
    response = api.post("/predict", json={"records": [record]}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert "total_monthly_scrobbles" in response.text


def test_zero_plays_in_an_empty_month_is_refused(api: httpx.Client) -> None:
    record = {
        **SEED_EXAMPLE,
        "plays_t": 0,
        "total_monthly_scrobbles": 0,
        "share_t": 0,
        "delta_1m": 0,
        "trend_slope_3m": 0,
        "plays_prev3_mean": 0,
    }
    response = api.post(
        "/predict", json={"records": [record], "threshold_override": 0.0}, headers=AUTH
    )
    assert response.status_code == 422 and "total_monthly_scrobbles" in response.text


@pytest.mark.parametrize("value", [True, False, "14", None])
def test_booleans_and_strings_are_not_numbers(api: httpx.Client, value: object) -> None:
    record = {**SEED_EXAMPLE, "plays_t": value}
    response = api.post("/predict", json={"records": [record]}, headers=AUTH)
    if value is None:  # null means absent: derived from share_t and the total
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["msg"].startswith("records[0].plays_t")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_422(api: httpx.Client, literal: str) -> None:
    body = json.dumps({"records": [SEED_EXAMPLE]}).replace('"plays_t": 14', f'"plays_t": {literal}')
    response = api.post(
        "/predict", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "records[0].plays_t" in response.text


def test_rounding_tolerance_is_relative_not_a_free_pass() -> None:
    base = {k: v for k, v in SEED_EXAMPLE.items() if k in ALL_FEATURES}
    base |= {"plays_rank_t": 3, "exploration_t": 0.1}
    features = list(FEATURES)
    rounded = complete_records(pd.DataFrame([{**base, "plays_prev3_mean": 0.333}]), features, None)
    assert len(rounded.frame) == 1 and rounded.frame.notna().all(axis=None)
    with pytest.raises(RecordError, match=r"records\[0\]\.plays_prev3_mean: implies negative"):
        complete_records(pd.DataFrame([{**base, "plays_prev3_mean": 0.25}]), features, None)
    with pytest.raises(RecordError, match=r"records\[0\]\.delta_1m: implies negative"):
        complete_records(pd.DataFrame([{**base, "delta_1m": 14.5}]), features, None)
