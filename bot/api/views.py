"""Query results (bot.services.queries dataclasses) as JSON-ready dicts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.services.metadata import ArtistMeta
from bot.services.queries import CandidateView, Explanation, RunView
from bot.services.status import iso_utc


def run_json(run: RunView | None) -> dict[str, Any] | None:
    """The rebuild behind the answers."""
    if run is None:
        return None
    return {
        "id": run.id,
        "rebuilt_at": iso_utc(run.created_at),
        "status": run.status,
        "message": run.message,
        "model": run.model_name,
        "threshold": run.threshold,
        "scored_month": run.scored_month,
        "trained_at": iso_utc(run.trained_at),
        "metrics": run.metrics,
    }


def candidate_json(c: CandidateView, meta: ArtistMeta | None) -> dict[str, Any]:
    """One candidate with its reasons and whatever metadata is cached."""
    out = asdict(c)
    out["first_seen"] = iso_utc(c.first_seen)
    out["metadata"] = meta.to_json() if meta else None
    return out


def explanation_json(
    e: Explanation, meta: ArtistMeta | None, did_you_mean: list[str]
) -> dict[str, Any]:
    """The /why card."""
    return {
        "artist_id": e.artist_id,
        "artist": e.artist,
        "first_seen": iso_utc(e.first_seen),
        "candidate": candidate_json(e.candidate, None) if e.candidate else None,
        "why_not": e.why_not,
        "threshold": e.threshold,
        "monthly_plays": [{"month": m, "plays": p} for m, p in e.monthly_plays],
        "feedback": None
        if e.feedback is None
        else {"verdict": e.feedback.word, "month": e.feedback.month, "at": iso_utc(e.feedback.at)},
        "run": run_json(e.run),
        "metadata": meta.to_json() if meta else None,
        "did_you_mean": did_you_mean,
    }
