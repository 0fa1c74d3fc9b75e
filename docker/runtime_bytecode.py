"""Keep the dependencies' compiled bytecode only for the modules the bot and the API import.

Run in the image's build stage (see the Dockerfile) with the project's code on PYTHONPATH.
It runs what the container runs, in one process and without the network: every module of
`bot` and `pipeline`, `breakout demo` (migrations, import, features, training, scoring,
reading), the bot's Telegram application, the API's routes through its ASGI app and
uvicorn's configuration, and both chart kinds (the bot's cards and the backtest's pyplot
chart). Then it deletes every `.pyc` in site-packages whose module none of that imported.
Modules whose import was tried and failed (optional extras such as tornado for PTB's
webhooks) keep theirs too: every start tries them again. A module missed here still works:
Python compiles it in memory when it is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import io
import os
import pkgutil
import sys
import sysconfig
import tempfile
from pathlib import Path

NOW = "2024-03-15T12:00:00+00:00"
TOKEN = "build-token-0123456789abcdef"
FOUND: set[str] = set()  # source files of every module an import looked up, failed ones too


class RecordLookups:
    """First on sys.meta_path: notes where each import finds its module, then lets the
    usual finders import it."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)  # type: ignore[arg-type]
        if spec is not None and spec.origin:
            FOUND.add(str(Path(spec.origin).resolve()))


def import_project() -> None:
    """Every module of the project, as the commands and the bot's handlers import them."""
    for name in ("bot", "pipeline"):
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            importlib.import_module(module.name)


def run_demo() -> None:
    """`breakout demo`: migrations, features, training, scoring, the reading queries."""
    from bot.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["demo", "--now", NOW])
    if code != 0:
        raise SystemExit(f"breakout demo exited with {code}")


def run_bot_and_api(data: Path) -> None:
    """The Telegram application (built, not started) and the API's routes, in process."""
    import uvicorn
    from fastapi.testclient import TestClient

    from bot.api.app import create_app
    from bot.config import Settings
    from bot.db.session import upgrade_database_sync
    from bot.telegram.app import build_application

    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=f"sqlite+aiosqlite:///{data / 'build.sqlite3'}",
        BREAKOUT_MODEL_DIR=data / "models",
        BREAKOUT_API_TOKEN=TOKEN,
        TELEGRAM_BOT_TOKEN="123456:build",
        TELEGRAM_OWNER_ID=1,
    )
    upgrade_database_sync(settings.DATABASE_URL)
    build_application(settings)
    app = create_app(settings)
    uvicorn.Config(app, log_config=None).load()
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for path in ("/health", "/candidates", "/record", "/docs", "/openapi.json"):
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"GET {path} answered {response.status_code}")
        client.post("/predict", json={"records": []})


def draw_charts() -> None:
    """A card chart (Figure + Agg, as the bot draws) and a pyplot chart (as backtest draws)."""
    from datetime import datetime, timedelta

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bot.telegram import charts

    days = [datetime(2024, 2, 1) + timedelta(days=i) for i in range(60)]
    charts.daily_plays_png(days, [i % 5 for i in range(60)], "Artist", 12)
    figure, axes = plt.subplots()
    axes.plot([0, 1], [0, 1])
    figure.savefig(io.BytesIO(), format="png")


def prune(site_packages: Path) -> tuple[int, int]:
    """Delete bytecode of modules that were not imported; (bytes kept, bytes removed)."""
    imported = FOUND | {
        str(Path(module.__file__).resolve())
        for module in list(sys.modules.values())
        if getattr(module, "__file__", None)
    }
    kept = removed = 0
    for pyc in site_packages.rglob("__pycache__/*.pyc"):
        source = pyc.parent.parent / f"{pyc.name.split('.')[0]}.py"
        size = pyc.stat().st_size
        if str(source.resolve()) in imported:
            kept += size
        else:
            pyc.unlink()
            removed += size
    return kept, removed


def main() -> None:
    sys.meta_path.insert(0, RecordLookups)  # type: ignore[arg-type]
    os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp()
    import_project()
    run_demo()
    with tempfile.TemporaryDirectory() as data:
        run_bot_and_api(Path(data))
    draw_charts()
    kept, removed = prune(Path(sysconfig.get_paths()["purelib"]))
    print(f"bytecode kept {kept / 1e6:.1f} MB, removed {removed / 1e6:.1f} MB (never imported)")


if __name__ == "__main__":
    main()
