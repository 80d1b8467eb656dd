"""FastAPI dependencies: the workspace and API-key check (tests override them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from tastemaker.errors import AuthError
from tastemaker.workspace import Workspace


async def get_workspace(request: Request) -> Workspace:
    """Return the workspace the app was started with (async: no thread-pool hop)."""
    ws: Workspace = request.app.state.workspace
    return ws


async def require_api_key(
    ws: Annotated[Workspace, Depends(get_workspace)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    """Refuse the request when an API key is configured and not given."""
    expected = ws.settings.serving.api_key
    if expected and x_api_key != expected:
        raise AuthError("missing or wrong X-API-Key header")


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
