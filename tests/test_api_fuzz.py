"""Schema-driven fuzzing of the running API from its own OpenAPI: no input gives a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode

from tests.api_harness import serving
from tests.bot_harness import copy_seeded
from tests.test_api import AUTH, api_settings

pytestmark = pytest.mark.slow  # a long end-to-end run: `-m "not slow"` skips it
EXAMPLES = 60  # per mode: bounded to seconds


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzing_finds_no_server_error(seeded: Path, tmp_path: Path, mode: GenerationMode) -> None:
    data_dir = copy_seeded(seeded, tmp_path / "data")
    with serving(api_settings(data_dir)) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        calls: list[int] = []

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=schema.as_strategy(mode, headers=AUTH))
        def fuzz(case) -> None:
            response = case.call(base_url=url, timeout=30)
            calls.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
    assert len(calls) >= EXAMPLES // 2 and all(code < 500 for code in calls)
    assert any(code == 200 for code in calls) or mode == GenerationMode.NEGATIVE
