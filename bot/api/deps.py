"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, closed when the route is done."""
    async with request.app.state.api.db.sessions() as session:
        yield session


# A read session for a route; writes go through write_with_retry, /health opens its own
# session so that an unreachable database answers 503 instead of an error.
SessionDep = Annotated[AsyncSession, Depends(_session)]
