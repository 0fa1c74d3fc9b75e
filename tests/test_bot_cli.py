"""The CLI as a shell user meets it: help texts, a closed pipe, a light start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.cli import COMMANDS, build_parser


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_help_has_a_description_and_an_example(command: str) -> None:
    sub = build_parser()._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    text = sub.format_help()
    assert sub.description and len(sub.description) > 20
    assert f"example:\n  breakout {command}" in text


@pytest.mark.slow
def test_reading_commands_do_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys, bot.cli\n"
        "import bot.commands.read\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'xgboost', 'matplotlib', 'scipy', 'telegram')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly() -> None:
    shell = f"'{sys.executable}' -m bot.cli demo --seed 3 | head -1"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("simulated listener (seed 3)")
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
