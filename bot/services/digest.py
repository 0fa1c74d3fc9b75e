"""The optional weekly digest: new discoveries, who is rising, who broke out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from bot.services import queries
from bot.services.chat_settings import load_chat_settings
from bot.services.moments import recent_moments
from bot.services.runtime import Runtime


@dataclass(frozen=True)
class Digest:
    """One week in three lists of names."""

    discoveries: list[str]
    rising: list[str]
    broke_out: list[str]


async def build_digest(rt: Runtime) -> Digest | None:
    """The week ending now; None when the digest is turned off."""
    week_ago = rt.now() - timedelta(days=7)
    async with rt.db.sessions() as session:
        if not (await load_chat_settings(session, rt.settings)).digest:
            return None
        rows = await session.execute(
            text(
                "SELECT a.name FROM scrobbles s JOIN artists a ON a.id = s.artist_id "
                "GROUP BY s.artist_id HAVING MIN(s.ts) >= :since "
                "ORDER BY COUNT(*) DESC LIMIT 5"
            ),
            {"since": int(week_ago.timestamp())},
        )
        discoveries = [str(n) for (n,) in rows]
        rising = [c.artist for c in await queries.current_candidates(session, 3)]
        broke = [
            await queries.artist_name(session, a)
            for a, _ in await recent_moments(session, week_ago)
        ]
    return Digest(discoveries, rising, [n for n in broke if n])
