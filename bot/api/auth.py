"""Bearer-token check for every endpoint but /health."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="BREAKOUT_API_TOKEN")


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Pass when no token is configured (loopback only) or the bearer token matches."""
    expected: str | None = request.app.state.api.token
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token (Authorization: Bearer $BREAKOUT_API_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
