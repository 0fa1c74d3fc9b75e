"""Latency of the HTTP API (a real `breakout serve` process) under a loopback load generator.

POST /predict with 1,000 records and GET /candidates, --clients clients (default 1) each
sending one request after another for --seconds each, --runs times; prints p50/p95 per run
and the medians over runs, with the server's and the clients' CPU per request (the clients are
threads of this process, sharing one GIL and the same cores as the server). From the project root:

    python ../shared/bench/scale_history.py \\
        ../shared/data/histories/music-stats.csv 10 /tmp/1m.csv
    DATABASE_URL=sqlite+aiosqlite:////tmp/bench1m/db.sqlite3 breakout import /tmp/1m.csv
    uv run python benchmarks/bench_api.py /tmp/bench1m/db.sqlite3 --models /tmp/bench1m/models

When the newest run has no candidates (an old history scored at today's date), the script
first rebuilds once as of the day after the last scrobble, so /candidates has a full list.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bot.services.rebuild import rebuild

TOKEN = "bench-token-0123456789abcdef"
RECORDS = 1000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def make_records(months: list[tuple[str, int]], n: int, seed: int = 1) -> list[dict]:
    """n consistent seed-style feature rows in the history's months."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        month, total = rng.choice(months)
        age = rng.randint(0, 8)
        plays = rng.randint(3, 40)
        lags = [rng.randint(0, 30) if k < age else 0 for k in range(3)]
        out.append(
            {
                "month": f"{month}-01",
                "artist_name": f"Artist {i}",
                "months_since_first_seen": age,
                "is_first_month": int(age == 0),
                "plays_t": plays,
                "plays_per_track_t": plays / rng.randint(1, plays),
                "days_active_t": rng.randint(1, min(plays, 28)),
                "last_play_gap_days_t": rng.uniform(0, 30),
                "track_novelty_rate_t": rng.random(),
                "share_t": plays / total,
                "total_monthly_scrobbles": total,
                "plays_prev3_mean": sum(lags) / 3,
                "delta_1m": plays - lags[0],
                "trend_slope_3m": (plays - lags[1]) / 2,
                "active_months_count_before_t": min(age, sum(1 for lag in lags if lag) + 1),
            }
        )
    return out


def prepare(db_path: Path, models: Path) -> list[tuple[str, int]]:
    """Rebuild when there are no candidates; the months (label, scrobbles) of the history."""
    con = sqlite3.connect(db_path)
    last_ts, count = con.execute("SELECT MAX(ts), COUNT(*) FROM scrobbles").fetchone()
    run = con.execute("SELECT MAX(id) FROM model_runs").fetchone()[0]
    cands = con.execute("SELECT COUNT(*) FROM candidates WHERE run_id = ?", (run,)).fetchone()[0]
    url = f"sqlite+aiosqlite:///{db_path}"
    if not cands or not models.exists():
        as_of = datetime.fromtimestamp(last_ts, UTC) + timedelta(days=1)
        started = time.perf_counter()
        report = rebuild(url, models, None, as_of)
        took = time.perf_counter() - started
        print(f"rebuilt as of {as_of:%Y-%m-%d}: {report.summary()} ({took:.0f} s)")
    months = con.execute(
        "SELECT strftime('%Y-%m', ts, 'unixepoch') AS m, COUNT(*) FROM scrobbles GROUP BY m"
    ).fetchall()
    con.close()
    print(f"history: {count:,} scrobbles in {len(months)} months")
    return [(m, c) for m, c in months if c >= 100]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_path: Path, models: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "BREAKOUT_MODEL_DIR": str(models),
        "BREAKOUT_API_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=env
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
        if server.poll() is not None:
            raise SystemExit("breakout serve exited")
    raise SystemExit("breakout serve did not start")


def load(client: httpx.Client, request: httpx.Request, seconds: float, cap: int) -> list[float]:
    """Send `request` back to back for `seconds` (at most `cap` times); latencies in ms."""
    out: list[float] = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop and len(out) < cap:
        started = time.perf_counter()
        response = client.send(request)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): the server's cost per request,
    which unlike latency does not grow when other jobs share the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_many(
    base: str,
    headers: dict,
    method: str,
    path: str,
    body: dict | None,
    seconds: float,
    clients: int,
) -> list[float]:
    """`clients` closed-loop clients (one connection each) for `seconds`; all latencies in ms."""
    start = threading.Barrier(clients)

    def client() -> list[float]:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            request = c.build_request(method, path, json=body)
            start.wait()
            return load(c, request, seconds, 100_000)

    with ThreadPoolExecutor(clients) as pool:
        return [ms for part in pool.map(lambda _: client(), range(clients)) for ms in part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients")
    args = parser.parse_args()
    records = make_records(prepare(args.db, args.models), RECORDS)
    port = free_port()
    server = start_server(args.db, args.models, port)
    results: dict[str, list[tuple[float, float]]] = {"predict": [], "candidates": []}
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as c:
            requests = {
                "predict": c.build_request("POST", "/predict", json={"records": records}),
                "candidates": c.build_request("GET", "/candidates"),
            }
            for request in requests.values():  # warm-up: model, month context, query plans
                load(c, request, 2.0, 20)
            base = f"http://127.0.0.1:{port}"
            calls = {
                "predict": ("POST", "/predict", {"records": records}),
                "candidates": ("GET", "/candidates", None),
            }
            for run in range(args.runs):
                for name, (method, path, body) in calls.items():
                    cpu, own = cpu_seconds(server.pid), time.process_time()
                    ms = load_many(base, headers, method, path, body, args.seconds, args.clients)
                    cpu_ms = (cpu_seconds(server.pid) - cpu) * 1000 / len(ms)
                    client_ms = (time.process_time() - own) * 1000 / len(ms)
                    p50, p95 = statistics.median(ms), percentile(ms, 0.95)
                    results[name].append((p50, p95))
                    print(
                        f"run {run + 1} {name}: n={len(ms)} p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                        f"server CPU {cpu_ms:.1f} ms, clients' CPU {client_ms:.1f} ms per request"
                    )
    finally:
        server.terminate()
        server.wait(60)
    for name, runs in results.items():
        p50 = statistics.median(r[0] for r in runs)
        p95 = statistics.median(r[1] for r in runs)
        print(f"{name}: median over {len(runs)} runs: p50 {p50:.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
