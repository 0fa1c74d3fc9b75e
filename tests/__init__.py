"""The suite's processes share one bytecode cache outside the source tree.

Many tests start Python processes (the CLI, the bot, uvicorn, xdist workers). Where
PYTHONDONTWRITEBYTECODE is set and the venv holds no bytecode, each start compiled every module
it imported again: ~3 s of CPU per start on this machine. This package is imported before
tests/conftest.py, so the pytest process and every process it starts read and write compiled
modules under PYTHONPYCACHEPREFIX (one you set yourself wins): nothing is written next to the
sources, and Python still checks each cached file against its source.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(
    Path(__file__).resolve().parents[1] / ".pytest_cache" / "pycache"
)
os.environ["PYTHONPYCACHEPREFIX"] = _prefix
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.pycache_prefix = _prefix
sys.dont_write_bytecode = False
