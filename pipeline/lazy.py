"""Heavy modules imported on first use, so the reading commands never load numpy or pandas."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class DeferredModule:
    """Stands for a module until an attribute is asked for; then imports it (thread-safe).

    `breakout candidates/status/record/why` import modules that also hold heavy
    computations; numpy and pandas alone would double their start time.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attribute)
