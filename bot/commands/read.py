"""`breakout candidates` and `why`: stored rows only, so they start fast (no pandas/sklearn)."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from datetime import tzinfo

from bot import render
from bot.config import load_settings
from bot.db.session import Database
from bot.errors import ConfigError
from bot.services import cards, queries
from bot.timeutil import utc_now
from pipeline.errors import UserError

MAX_LIMIT = 10_000  # far above any month's candidates, far below SQLite's integers


class UnknownArtist(UserError):
    """`why` was asked about a name that matches no artist."""


def _json_default(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _dump(value: object) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


async def _candidates(
    url: str, limit: int, tz: tzinfo
) -> tuple[queries.RunView | None, list, render.Watched | None]:
    async with await Database.open(url) as db, db.sessions() as session:
        run = await queries.latest_run(session)
        found = await queries.current_candidates(session, limit)
        watched = None if found else await cards.watched(session, utc_now(), [], tz=tz)
        return run, found, watched


def cmd_candidates(args: argparse.Namespace) -> int:
    """The top candidates of the latest rebuild."""
    settings = load_settings()
    limit = args.limit if args.limit is not None else settings.BREAKOUT_CANDIDATES_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"--limit must be 1..{MAX_LIMIT:,}, not {str(limit)[:24]}")
    run, candidates, watched = asyncio.run(_candidates(settings.DATABASE_URL, limit, settings.tz))
    idle = watched.idle_since if watched else None
    if args.json:
        print(
            _dump(
                {
                    "run": None if run is None else {**asdict(run), "metrics": run.metrics},
                    "candidates": [asdict(c) for c in candidates],
                    "note": render.nothing_to_score(idle) if idle else None,
                }
            )
        )
    elif watched is not None and run is not None:
        print(render.render_empty(run, watched, html=False))
    else:
        print(render.render_candidates(candidates, run, html=False))
    return 0


async def _why(url: str, name: str) -> tuple[queries.Explanation, bool]:
    async with await Database.open(url) as db, db.sessions() as session:
        match = await queries.find_artist(session, name)
        if match.artist is None:
            closest = ", ".join(n for _, n in match.suggestions) or "none"
            raise UnknownArtist(f"no artist matching '{name}'; did you mean: {closest}")
        return await queries.artist_explanation(session, match.artist[0]), match.exact


def cmd_why(args: argparse.Namespace) -> int:
    """Why an artist is (or is not) a candidate."""
    settings = load_settings()
    name = " ".join(args.artist)
    explanation, exact = asyncio.run(_why(settings.DATABASE_URL, name))
    if args.json:
        print(_dump(asdict(explanation)))
        return 0
    if not exact:
        print(f"(no artist called '{name}'; showing the closest, {explanation.artist})\n")
    print(render.render_explanation(explanation, html=False, tz=settings.tz))
    return 0
