"""The container files: layer order, what the build removes, what the build context holds."""

from __future__ import annotations

import importlib.util
import py_compile
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages() -> dict[str, str]:
    """The Dockerfile's stages by name (the unnamed last one is "final")."""
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    named = {}
    for part in parts:
        header = part.splitlines()[0].split()
        named[header[2] if len(header) == 3 else "final"] = part
    return named


def load_runtime_bytecode() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "runtime_bytecode", ROOT / "docker" / "runtime_bytecode.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dependencies_install_before_any_code_is_copied() -> None:
    build = stages()["build"]
    sync = build.index("uv sync --locked --no-dev --no-install-project")
    assert build.index("COPY pyproject.toml uv.lock ./") < sync
    for code in ("COPY pipeline", "COPY bot", "COPY migrations"):
        assert build.index(code) > sync, code


def test_final_image_has_the_venv_and_the_code_as_two_layers_on_the_slim_base() -> None:
    final = stages()["final"]
    assert final.startswith("python:3.11-slim\n")
    venv = final.index("COPY --from=runtime-venv /app/.venv /app/.venv")
    assert final.index("COPY --from=build /app/code /app") > venv
    assert final.count("COPY") == 2
    assert "USER breakout" in final


def test_strip_leaves_the_wheels_patched_vendored_libraries_alone() -> None:
    strip = re.search(r"find \. [^&]*strip --strip-unneeded", stages()["build"])
    assert strip is not None
    assert '-not -path "./*.libs/*"' in strip.group(0)


def test_build_context_holds_no_secrets_data_or_local_environment() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".venv", ".git", "data", "tests", "*.sqlite3"} <= ignored
    assert not ignored & {"bot", "pipeline", "migrations", "docker", "uv.lock", "pyproject.toml"}


def test_only_modules_an_import_looked_up_keep_their_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the image keeps bytecode beside its sources; the suite's shared cache prefix would not
    monkeypatch.setattr(sys, "pycache_prefix", None)
    site = tmp_path / "site"
    package = site / "buildpkg_used"
    package.mkdir(parents=True)
    sources = {"__init__": "", "loaded": "", "broken": "import buildpkg_missing\n", "never": ""}
    for name, text in sources.items():
        (package / f"{name}.py").write_text(text + "VALUE = 1\n")
        py_compile.compile(str(package / f"{name}.py"), doraise=True)
    runtime_bytecode = load_runtime_bytecode()
    sys.path.insert(0, str(site))
    sys.meta_path.insert(0, runtime_bytecode.RecordLookups)
    try:
        importlib.import_module("buildpkg_used.loaded")
        with pytest.raises(ImportError):
            importlib.import_module("buildpkg_used.broken")
        kept, removed = runtime_bytecode.prune(site)
    finally:
        sys.meta_path.remove(runtime_bytecode.RecordLookups)
        sys.path.remove(str(site))
        for name in ("buildpkg_used", "buildpkg_used.loaded", "buildpkg_used.broken"):
            sys.modules.pop(name, None)
    left = sorted(p.name.split(".")[0] for p in package.glob("__pycache__/*.pyc"))
    assert left == ["__init__", "broken", "loaded"]
    assert kept > 0 and removed > 0
    assert (package / "never.py").exists()


def test_the_build_trace_runs_commands_that_exist() -> None:
    from bot.cli import COMMANDS

    source = (ROOT / "docker" / "runtime_bytecode.py").read_text()
    assert 'main(["demo", "--now", NOW])' in source
    assert "demo" in COMMANDS
