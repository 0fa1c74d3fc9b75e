"""`breakout rebuild/candidates/why/demo` through bot.cli.main, and how the bot phrases things."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.db.scrobbles import store_scrobbles
from bot.db.session import Database
from bot.render import render_candidates, render_explanation, split_message
from bot.services.queries import CandidateView, Explanation, RunView
from bot.timeutil import utc_now
from pipeline.simulate import simulate_listener

ROOT = Path(__file__).resolve().parents[1]
SEEN = datetime(2026, 11, 10, tzinfo=UTC)

ODDS_SENTENCE = r"artists like this (became core for you|become core) \("  # own / prior odds


def _run(status: str = "model", message: str = "") -> RunView:
    return RunView(
        id=1,
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
        status=status,
        message=message,
        model_name="xgboost" if status == "model" else None,
        threshold=0.4 if status == "model" else None,
        scored_month="2026-10",
        metrics_json="{}",
        trained_at=None,
    )


def _cand(i: int, name: str, probability: float, reason: str = "5 plays") -> CandidateView:
    return CandidateView(
        candidate_id=i,
        artist_id=100 + i,
        artist=name,
        month="2026-11",
        window="trailing",
        probability=probability,
        rank=i,
        above_threshold=probability >= 0.4,
        first_seen=SEEN,
        plays=5,
        reasons=[reason],
    )


def test_html_escapes_every_name_and_marks_hot_candidates() -> None:
    cands = [_cand(1, "Simon & Garfunkel", 0.63), _cand(2, "<b>Bold</b> & Co", 0.12, "a < b")]
    text = render_candidates(cands, _run())
    assert "Simon &amp; Garfunkel" in text and "Simon & Garfunkel" not in text
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in text
    assert "a &lt; b" in text
    assert "about 6 in 10 (63%)" in text and "about 1 in 8 (12%)" in text
    assert "threshold" not in text and "🔥" not in text  # no model jargon in chat
    # only our own tags remain once names are escaped
    assert set(re.findall(r"</?([a-z]+)>", text)) <= {"b", "i"}
    plain = render_candidates(cands, _run(), html=False)
    assert "Simon & Garfunkel" in plain and "<b>Bold</b> & Co" in plain and "<i>" not in plain


def test_fallback_run_says_not_enough_history_and_still_ranks() -> None:
    run = _run("fallback", "not enough history yet: 3 months, 0 breakouts")
    text = render_candidates([_cand(1, 'Mo "Kid" Rivera', 0.5)], run, html=False)
    assert "ranked by how close they are to becoming core" in text.splitlines()[1]
    assert '1. Mo "Kid" Rivera' in text and "%" not in text.split("1.")[1]
    assert render_candidates([], None).startswith("No predictions yet")


def test_explanation_reads_plainly_and_escapes() -> None:
    expl = Explanation(
        artist_id=101,
        artist="Hazel & The <Wolves>",
        first_seen=SEEN,
        candidate=_cand(1, "Hazel & The <Wolves>", 0.7, "9 plays in the last 14 days"),
        why_not=None,
        threshold=0.4,
        monthly_plays=[("2026-10", 0), ("2026-11", 9)],
        feedback=None,
        run=_run(),
    )
    text = render_explanation(expl)
    assert text.startswith("<b>Hazel &amp; The &lt;Wolves&gt;</b>")
    assert "About 7 in 10 artists like this became core for you (70%)." in text
    assert "threshold" not in text and "10 Nov 2026" in text
    assert "• 9 plays in the last 14 days" in text


def test_split_message_respects_the_limit_lines_and_tags() -> None:
    lines = [f"{i}. <b>Simon &amp; Garfunkel {i}</b> — 63%" for i in range(400)]
    text = "\n".join(lines)
    parts = split_message(text)
    assert len(parts) > 1
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "\n".join(parts) == text  # cut only between lines
    long_bold = "<b>" + "x &amp; y " * 1200 + "</b>"
    for part in split_message(long_bold):
        assert len(part) <= 4096
        assert part.count("<b>") == part.count("</b>")
        assert not re.search(r"&[a-z]*$", part) and not re.search(r"<[^>]*$", part)
    assert split_message("short") == ["short"]


def _stock(url: str) -> None:
    async def go() -> None:
        async with await Database.open(url) as db, db.sessions() as session, session.begin():
            await store_scrobbles(session, simulate_listener(5, end=utc_now()))

    asyncio.run(go())


@pytest.fixture
def cli_db(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("BREAKOUT_MODEL_DIR", str(tmp_path / "models"))
    _stock(db_url)
    return db_url


def test_rebuild_candidates_and_why_from_the_command_line(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rebuild"]) == 0
    out = capsys.readouterr().out
    for stage in ("load", "features", "labels", "train", "score", "store", "total"):
        assert re.search(rf"^\s+{stage}\s+\d+\.\d\d s$", out, re.M), stage
    assert main(["candidates", "--json", "--limit", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["status"] == "model" and len(data["candidates"]) == 4
    first = data["candidates"][0]
    assert first["rank"] == 1 and first["reasons"]  # the top of the one list
    assert main(["candidates"]) == 0
    assert first["artist"] in capsys.readouterr().out
    assert main(["why", *first["artist"].upper().split(), "--json"]) == 0
    why = json.loads(capsys.readouterr().out)
    assert why["artist"] == first["artist"] and why["candidate"]["candidate_id"]
    assert main(["why", first["artist"]]) == 0
    assert re.search(
        r"artists like this (became core for you|become core) \(", capsys.readouterr().out
    )


def test_why_unknown_artist_names_the_closest(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["why", "Simon Brothers Band"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no artist matching 'Simon Brothers Band'; did you mean: ")
    assert len(err.splitlines()) == 1


def test_candidates_before_any_rebuild(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["candidates"]) == 0
    assert "No predictions yet" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "now", ["2026-03-01", "2026-11-20T12:00", "2026-12-06T14:00", "2027-01-01T00:00"]
)
def test_demo_runs_anywhere_without_touching_data(tmp_path: Path, now: str) -> None:
    result = subprocess.run(
        # pinned: the simulated listener ends at --now, so the output must not depend on today
        [sys.executable, "-m", "bot.cli", "demo", "--seed", "3", "--now", now],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "Breakout candidates" in result.stdout and "1. " in result.stdout
    assert "$ breakout why " in result.stdout and "What points to it:" in result.stdout
    assert not (tmp_path / "data").exists()


def test_odds_from_other_listeners_read_like_the_list() -> None:
    """The card's "1 in N" carries the list's percentage (100/N), also when the odds come mostly
    from how other listeners behave: the list and /why never show two figures for one artist."""
    evidence = '{"evidence": {"source": "prior", "listener_breakouts": 3}}'
    run = dataclasses.replace(_run(), metrics_json=evidence)
    expl = Explanation(
        artist_id=101,
        artist="Sigur Rós Tribute",
        first_seen=SEEN,
        candidate=_cand(1, "Sigur Rós Tribute", 0.44, "10 plays in the last 14 days"),
        why_not=None,
        threshold=0.25,
        monthly_plays=[("2026-11", 10)],
        feedback=None,
        run=run,
    )
    text = render_explanation(expl, html=False)
    said = "About 1 in 2 artists like this become core (50%), mostly from how listeners like you"
    assert said in text
    assert "1. ★ Sigur Rós Tribute — about 1 in 2 (50%)" in render_candidates(
        [_cand(1, "Sigur Rós Tribute", 0.44)], run, html=False
    )
