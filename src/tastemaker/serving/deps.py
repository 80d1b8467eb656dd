"""FastAPI dependencies: the workspace, the engine, the API-key check and the bounded body.

A route that reads a body declares `require_api_key` (its router does) before `RawBody`:
FastAPI solves router dependencies first, so an unauthenticated request is refused before
a byte of its body is read, and a body is never read past ``ingest.max_body_bytes``. Tests
swap the engine through ``app.dependency_overrides[get_engine]``.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from tastemaker.engine.runtime import Engine
from tastemaker.errors import AuthError, PayloadTooLargeError
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


async def read_body(request: Request, ws: Annotated[Workspace, Depends(get_workspace)]) -> bytes:
    """The request body, refused with 413 past ``ingest.max_body_bytes``.

    A declared ``Content-Length`` over the limit is refused before reading; a body sent
    without one (chunked) is refused as soon as what arrived passes the limit, so no more
    than the limit is ever held in memory.

    Raises:
        PayloadTooLargeError: naming the limit.
    """
    limit = ws.settings.ingest.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit, at_least=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int, *, at_least: bool = False) -> PayloadTooLargeError:
    more = "more than " if at_least else ""
    return PayloadTooLargeError(
        f"body: {more}{size} bytes (at most {limit}: limit ingest.max_body_bytes)",
        limit="ingest.max_body_bytes",
        max_bytes=limit,
    )


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
EngineDep = Annotated[Engine, Depends(get_engine)]
Authenticated = Depends(require_api_key)
#: The request body, read after the API-key check and within ``ingest.max_body_bytes``.
RawBody = Annotated[bytes, Depends(read_body)]
