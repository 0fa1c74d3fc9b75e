"""The `breakout` command: argument parsing and dispatch, nothing else."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from pipeline.errors import UserError

# command name -> "module:function"; modules load lazily so `breakout status` stays fast.
COMMANDS: dict[str, str] = {
    "import": "bot.commands.ingest:cmd_import",
    "sync": "bot.commands.sync:cmd_sync",
    "status": "bot.commands.status:cmd_status",
    "db": "bot.commands.status:cmd_db",
    "rebuild": "bot.commands.model:cmd_rebuild",
    "candidates": "bot.commands.model:cmd_candidates",
    "why": "bot.commands.model:cmd_why",
    "record": "bot.commands.record:cmd_record",
    "demo": "bot.commands.model:cmd_demo",
    "backtest": "bot.commands.backtest:cmd_backtest",
    "bot": "bot.commands.run_bot:cmd_bot",
    "serve": "bot.commands.serve:cmd_serve",
}

IMPORT_FORMATS = [
    "auto",
    "lastfm-to-csv",
    "ghan",
    "lastfmstats-json",
    "lastfmstats-csv",
    "listenbrainz",
    "seed",
]


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line interface."""
    parser = argparse.ArgumentParser(
        prog="breakout", description="Predict which new artists become your core artists."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("import", help="import a listening-history file into the database")
    p.add_argument("file", help="history file (CSV, JSON or ListenBrainz ZIP)")
    p.add_argument("--format", default="auto", choices=IMPORT_FORMATS, help="force a format")

    p = sub.add_parser("sync", help="fetch new scrobbles from Last.fm or ListenBrainz")
    p.add_argument("--full", action="store_true", help="re-read the whole history")

    p = sub.add_parser("status", help="what is stored and when it was synced")
    p.add_argument("--json", action="store_true", help="one JSON object")

    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("action", choices=["upgrade"], help="upgrade: apply migrations")

    sub.add_parser("rebuild", help="features, training when needed, scoring, stored candidates")

    p = sub.add_parser("candidates", help="the artists most likely to break out")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--limit", type=int, default=None, help="how many (default 10)")

    p = sub.add_parser("why", help="why an artist is (or is not) a candidate")
    p.add_argument("artist", nargs="+", help="artist name (case-insensitive, fuzzy)")
    p.add_argument("--json", action="store_true", help="JSON output")

    p = sub.add_parser(
        "record",
        help="how past predictions turned out: flagged artists, hit rate, calibration",
        description="The track record of stored predictions; before any has resolved, a "
        "backtest of the stored history (computed once). Example: breakout record --json",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")

    p = sub.add_parser("backtest", help="month-by-month honest evaluation of a history file")
    p.add_argument("history", help="history file in any importable format")
    p.add_argument(
        "--out",
        default=None,
        help="predictions CSV (default: backtest-<history name>.csv in the current directory)",
    )
    p.add_argument(
        "--report",
        default=None,
        help="report JSON (default: beside the predictions, .json instead of .csv)",
    )
    p.add_argument("--chart", default=None, help="PNG chart of the report")
    p.add_argument("--format", default="auto", choices=IMPORT_FORMATS, help="force a format")

    p = sub.add_parser("demo", help="run everything on a simulated listener, no credentials needed")
    p.add_argument("--seed", type=int, default=7, help="simulator seed")

    sub.add_parser("bot", help="run the Telegram bot (long polling, scheduler)")

    p = sub.add_parser("serve", help="run the HTTP API (FastAPI on uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9696, help="port (default 9696)")
    return parser


def _resolve(spec: str) -> Callable[[argparse.Namespace], int]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `breakout` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(_resolve(COMMANDS[args.command])(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
