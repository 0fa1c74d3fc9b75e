"""The `breakout` command: argument parsing and dispatch, nothing else."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.timeutil import as_utc
from pipeline.errors import UserError

# command name -> "module:function"; modules load lazily so `breakout status` stays fast.
COMMANDS: dict[str, str] = {
    "import": "bot.commands.ingest:cmd_import",
    "sync": "bot.commands.sync:cmd_sync",
    "status": "bot.commands.status:cmd_status",
    "db": "bot.commands.status:cmd_db",
    "rebuild": "bot.commands.model:cmd_rebuild",
    "candidates": "bot.commands.read:cmd_candidates",
    "why": "bot.commands.read:cmd_why",
    "record": "bot.commands.record:cmd_record",
    "demo": "bot.commands.model:cmd_demo",
    "backtest": "bot.commands.backtest:cmd_backtest",
    "bot": "bot.commands.run_bot:cmd_bot",
    "serve": "bot.commands.serve:cmd_serve",
    "backup": "bot.commands.backup:cmd_backup",
    "restore": "bot.commands.backup:cmd_restore",
    "export-feedback": "bot.commands.backup:cmd_export_feedback",
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


def _instant(text: str) -> datetime:
    """A UTC time from the command line (`--now`), for runs that must not depend on today."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time: {text!r}") from None
    return as_utc(value)


def _command(
    sub: argparse._SubParsersAction, name: str, summary: str, description: str, example: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help has a description and an example."""
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line interface."""
    parser = argparse.ArgumentParser(
        prog="breakout",
        description="Predict which newly discovered artists become your core artists.",
        epilog="example:\n  breakout demo\n\n`breakout COMMAND --help` describes each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _history_commands(sub)
    _model_commands(sub)
    _run_commands(sub)
    _service_commands(sub)
    return parser


def _history_commands(sub: argparse._SubParsersAction) -> None:
    """import, sync, status and db."""
    p = _command(
        sub,
        "import",
        "import a listening-history file into the database",
        "Read a Last.fm or ListenBrainz export and store its scrobbles; re-importing "
        "the same file adds nothing.",
        "breakout import ~/Downloads/scrobbles.csv",
    )
    p.add_argument("file", help="history file (CSV, JSON or ListenBrainz ZIP)")
    p.add_argument("--format", default="auto", choices=IMPORT_FORMATS, help="force a format")

    p = _command(
        sub,
        "sync",
        "fetch new scrobbles from Last.fm or ListenBrainz (LISTENS_SOURCE)",
        "Fetch the listening history from the source LISTENS_SOURCE names: Last.fm "
        "(LASTFM_API_KEY, LASTFM_USERNAME) or ListenBrainz (LISTENBRAINZ_USERNAME). The whole "
        "history the first time, then only what is new. Interrupted syncs resume.",
        "breakout sync",
    )
    p.add_argument("--full", action="store_true", help="re-read the whole history")

    p = _command(
        sub,
        "status",
        "what is stored and when it was synced",
        "Scrobbles and artists stored, the last sync and the latest rebuild.",
        "breakout status --json",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")

    p = _command(
        sub,
        "db",
        "database maintenance",
        "Apply the database migrations (the bot and the other commands do it too).",
        "breakout db upgrade",
    )
    p.add_argument("action", choices=["upgrade"], help="upgrade: apply migrations")


def _model_commands(sub: argparse._SubParsersAction) -> None:
    """rebuild, candidates, why and record."""
    _command(
        sub,
        "rebuild",
        "features, training when needed, scoring, stored candidates",
        "Rebuild the artist-month features, retrain when the data changed, score recent "
        "discoveries and store the candidates the bot shows.",
        "breakout rebuild",
    )

    p = _command(
        sub,
        "candidates",
        "the artists most likely to break out",
        "The candidates of the latest rebuild, most likely first.",
        "breakout candidates --limit 5",
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--limit", type=int, default=None, help="how many (default 10)")

    p = _command(
        sub,
        "why",
        "why an artist is (or is not) a candidate",
        "Odds, reasons, discovery date and feedback for one artist; the name is "
        "matched ignoring case and accents, else the closest name is shown.",
        "breakout why Simon & Garfunkel",
    )
    p.add_argument("artist", nargs="+", help="artist name")
    p.add_argument("--json", action="store_true", help="JSON output")

    p = _command(
        sub,
        "record",
        "how past predictions turned out",
        "Flagged artists and what became of them, the hit rate beside the base rate and "
        "calibration; before any prediction has resolved, a backtest of the stored history "
        "(computed once).",
        "breakout record --json",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")


def _run_commands(sub: argparse._SubParsersAction) -> None:
    """backtest, demo and bot: whole runs."""
    p = _command(
        sub,
        "backtest",
        "month-by-month honest evaluation of a history file",
        "Replay a history file month by month, predicting each month from the past "
        "only, and report how the predictions did.",
        "breakout backtest scrobbles.csv",
    )
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

    p = _command(
        sub,
        "demo",
        "run everything on a simulated listener, no credentials needed",
        "Simulate a listener, rebuild, and print candidates and one explanation; nothing is kept.",
        "breakout demo --seed 7",
    )
    p.add_argument("--seed", type=int, default=7, help="simulator seed")
    p.add_argument(
        "--now",
        type=_instant,
        default=None,
        help="pretend it is this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM); default: now",
    )

    _command(
        sub,
        "bot",
        "run the Telegram bot (long polling, scheduler)",
        "Run the bot for TELEGRAM_OWNER_ID with TELEGRAM_BOT_TOKEN: commands, buttons, "
        "the 15-minute sync, the nightly rebuild and the monthly push.",
        "breakout bot",
    )


def _service_commands(sub: argparse._SubParsersAction) -> None:
    """serve, backup, restore and export-feedback."""
    p = _command(
        sub,
        "serve",
        "run the HTTP API (FastAPI on uvicorn)",
        "Serve candidates, explanations, the track record and status over HTTP, with docs "
        "at /docs. Off loopback it needs BREAKOUT_API_TOKEN.",
        "breakout serve --port 9696",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9696, help="port (default 9696)")

    p = _command(
        sub,
        "backup",
        "copy the database (safe while the bot runs)",
        "Write a consistent copy of the database, checked before it is kept.",
        "breakout backup ~/breakout-backups/",
    )
    p.add_argument("path", nargs="?", help="file or folder (default: backups/ beside the database)")

    p = _command(
        sub,
        "restore",
        "replace the database with a backup",
        "Check a backup and put it in place of the database; the current one is kept beside it.",
        "breakout restore backups/breakout-20260131-030000.db",
    )
    p.add_argument("path", help="a backup made by `breakout backup`")

    p = _command(
        sub,
        "export-feedback",
        "your Confirm/Dismiss verdicts as CSV",
        "Every Confirm/Dismiss verdict given in the bot, one CSV row each.",
        "breakout export-feedback --out verdicts.csv",
    )
    p.add_argument("--out", default=None, help="CSV file (default: standard output)")


def _resolve(spec: str) -> Callable[[argparse.Namespace], int]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _quiet_broken_pipe() -> int:
    """`breakout demo | head`: the reader left; exit like other tools, without a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    return 141  # 128 + SIGPIPE, what a shell reports


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `breakout` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = int(_resolve(COMMANDS[args.command])(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a damaged database reached by any command: one line, not a trace
        from bot.db.session import database_failure

        if (line := database_failure(exc)) is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
