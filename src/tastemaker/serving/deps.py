"""FastAPI dependencies: the workspace, the engine and the API-key check (tests override them)."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from tastemaker.engine.runtime import Engine
from tastemaker.errors import AuthError
from tastemaker.serving.metrics import get_metrics
from tastemaker.workspace import Workspace

_LOCK = threading.Lock()


async def get_workspace(request: Request) -> Workspace:
    """Return the workspace the app was started with (async: no thread-pool hop)."""
    ws: Workspace = request.app.state.workspace
    return ws


def api_key_ok(workspace: Workspace, given: str | None) -> bool:
    """True when no key is configured or ``given`` is the configured key."""
    expected = workspace.settings.serving.api_key
    return not expected or given == expected


async def require_api_key(request: Request) -> None:
    """Refuse the request when an API key is configured and the header does not carry it.

    Raises:
        AuthError: a key is configured and ``X-API-Key`` is missing or wrong.
    """
    if not api_key_ok(request.app.state.workspace, request.headers.get("x-api-key")):
        raise AuthError("missing or wrong X-API-Key header")


def engine_of(request: Request) -> Engine:
    """The app's engine, created (and the model loaded) on first use."""
    state = request.app.state
    engine: Engine | None = getattr(state, "engine", None)
    if engine is None:
        with _LOCK:
            engine = getattr(state, "engine", None)
            if engine is None:
                engine = Engine(state.workspace, get_metrics(request))
                state.engine = engine
    return engine


async def get_engine(request: Request) -> Engine:
    """The engine as a dependency: loaded already, or loaded in a worker thread now."""
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        from fastapi.concurrency import run_in_threadpool

        engine = await run_in_threadpool(engine_of, request)
    return engine


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
EngineDep = Annotated[Engine, Depends(get_engine)]
Authenticated = Depends(require_api_key)
