"""The import rules of docs/architecture.md, enforced: each layer imports only what it may.

Read from the source (every import statement, also inside functions and TYPE_CHECKING blocks),
so a forbidden import fails here before it becomes a cycle or a leak.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Leaves every layer of bot/ may use.
BASE = {"bot.errors", "bot.config", "bot.timeutil", "bot.logs"}
SOURCES = {"bot.lastfm", "bot.listenbrainz", "bot.metadata", "bot.sources"}
# Which bot/ packages each bot/ package may import (pipeline/ is open to all of bot/).
ALLOWED: dict[str, set[str]] = {
    "bot.errors": set(),
    "bot.timeutil": set(),
    "bot.logs": set(),
    "bot.config": {"bot.errors"},
    "bot.db": BASE,
    "bot.lastfm": BASE | {"bot.db"},
    "bot.listenbrainz": BASE | {"bot.db", "bot.lastfm"},
    "bot.metadata": BASE | {"bot.lastfm"},
    "bot.sources": BASE | {"bot.lastfm", "bot.listenbrainz"},
    "bot.services": BASE | SOURCES | {"bot.db"},
    "bot.render": BASE | {"bot.services"},
    "bot.telegram": BASE | SOURCES | {"bot.db", "bot.services", "bot.render"},
    "bot.api": BASE | SOURCES | {"bot.db", "bot.services", "bot.render"},
    "bot.commands": BASE
    | SOURCES
    | {"bot.db", "bot.services", "bot.render", "bot.telegram", "bot.api"},
    "bot.cli": BASE | {"bot.commands", "bot.db"},
}
# Outside libraries a layer must not use: the pipeline is pure and synchronous, use cases
# know no transport, each transport knows no other.
FORBIDDEN: dict[str, set[str]] = {
    "pipeline": {"bot", "telegram", "asyncio", "sqlalchemy", "aiosqlite", "alembic", "fastapi"}
    | {"httpx", "uvicorn", "pydantic", "pydantic_settings"},
    "bot.db": {"telegram", "fastapi", "httpx"},
    "bot.services": {"telegram", "fastapi"},
    "bot.render": {"telegram", "fastapi", "sqlalchemy"},
    "bot.telegram": {"fastapi"},
    "bot.api": {"telegram"},
}


def unit(module: str) -> str:
    """The layer a module belongs to: 'pipeline', 'bot.<package>' or an outside top name."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def imports(path: Path) -> set[str]:
    """Every module an import statement of `path` names (`from bot import x` -> bot.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            assert node.module is not None
            if node.module == "bot":
                found.update(f"bot.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def layer_imports() -> dict[str, dict[str, set[str]]]:
    """layer -> imported layer -> files that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("pipeline/**/*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        source = unit(module.removesuffix(".__init__"))
        for name in imports(path):
            target = unit(name)
            if target != source:
                graph.setdefault(source, {}).setdefault(target, set()).add(str(path.name))
    return graph


GRAPH = layer_imports()


def test_every_bot_package_is_in_the_table() -> None:
    packages = {unit(f"bot.{p.stem}") for p in (ROOT / "bot").iterdir() if p.suffix == ".py"}
    packages |= {f"bot.{p.name}" for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists()}
    assert packages - {"bot.__init__"} == set(ALLOWED)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_bot_layers_import_only_what_they_may(layer: str) -> None:
    used = {t: files for t, files in GRAPH.get(layer, {}).items() if t.startswith("bot.")}
    wrong = {t: sorted(files) for t, files in used.items() if t not in ALLOWED[layer]}
    assert not wrong, f"{layer} may not import {wrong}"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_keep_off_forbidden_libraries(layer: str) -> None:
    used = GRAPH.get(layer, {})
    wrong = {t: sorted(files) for t, files in used.items() if t in FORBIDDEN[layer]}
    assert not wrong, f"{layer} may not import {wrong}"


def test_the_rules_catch_a_leak() -> None:
    assert unit("bot.services.jobruns") == "bot.services" and unit("pipeline.rules") == "pipeline"
    assert "bot.services" not in ALLOWED["bot.db"] and "bot.render" not in ALLOWED["bot.services"]
    assert "bot" in FORBIDDEN["pipeline"] and "telegram" in FORBIDDEN["bot.services"]


def test_tests_run_with_no_setting_of_the_shell() -> None:
    from bot.config import Settings

    assert Settings().model_dump() == Settings.model_construct().model_dump()
