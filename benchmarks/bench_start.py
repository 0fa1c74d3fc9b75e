"""Start-to-exit of the reading commands: `candidates`, `why`, `status`, `record`.

Each run is a fresh `python -m bot.cli ...` process timed from the outside: wall clock and the
process's CPU (user + sys, os.wait4), median of N. Compile the bytecode first (this machine
sets PYTHONDONTWRITEBYTECODE=1, and a start without .pyc compiles every module):
    uv run python -m compileall -q .venv/lib bot pipeline
    DATABASE_URL=sqlite+aiosqlite:////tmp/x/breakout.sqlite3 \
        uv run python benchmarks/bench_start.py --why "Radiohead" [--runs 5] [--code DIR]

`--code DIR` (repeatable) runs that checkout's code (e.g. `git archive` of an older commit)
with this virtualenv; with several, their runs alternate, so a changing load on a shared
machine weighs on each alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def measure(argv: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one command in a fresh interpreter."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--why", default="Radiohead", help="the artist `why` asks about")
    parser.add_argument("--code", action="append", help="checkout whose code runs (repeatable)")
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        raise SystemExit("set DATABASE_URL to the database to read")
    commands = [["candidates"], ["why", args.why], ["status"], ["record"]]
    codes = args.code or [os.getcwd()]
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    for argv in commands:
        runs: dict[str, list[tuple[float, float]]] = {code: [] for code in codes}
        for _ in range(args.runs):
            for code in codes:
                runs[code].append(measure(argv, code))
        for code, timed in runs.items():
            wall = statistics.median(w for w, _ in timed)
            cpu = statistics.median(c for _, c in timed)
            print(f"{' '.join(argv)[:16]:<16} wall {wall:5.2f} s  CPU {cpu:5.2f} s  {code}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
