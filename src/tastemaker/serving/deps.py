"""FastAPI dependencies: the workspace, the engine, the access check and the bounded body.

A route that reads a body declares its scope (`Scoped`, on its router) before `RawBody`:
FastAPI solves router dependencies first, so an unauthenticated request is refused before
a byte of its body is read, and a body is never read past ``ingest.max_body_bytes``. Tests
swap the engine through ``app.dependency_overrides[get_engine]``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tastemaker.access import AccessGate, AuditLog, Principal
from tastemaker.access.keys import split_token
from tastemaker.config import Scope
from tastemaker.engine.runtime import Engine
from tastemaker.errors import AuthError, ForbiddenError, PayloadTooLargeError, RateLimitedError
from tastemaker.privacy.forget import subject_digest
from tastemaker.serving.metrics import get_metrics
from tastemaker.workspace import Workspace

_LOCK = threading.Lock()
_REFUSALS = (AuthError, ForbiddenError, RateLimitedError)

#: The two ways to send a key, declared as OpenAPI security schemes (the docs' Authorize).
_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key: tm_<id>_<secret>"
)
_BEARER = HTTPBearer(auto_error=False, description="the same API key as a bearer token")
KeyHeader = Annotated[str | None, Security(_KEY_HEADER)]
BearerHeader = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


async def get_workspace(request: Request) -> Workspace:
    """Return the workspace the app was started with (async: no thread-pool hop)."""
    ws: Workspace = request.app.state.workspace
    return ws


def token_of(api_key: str | None, authorization: str | None) -> str | None:
    """The key a request carries: ``X-API-Key``, else ``Authorization: Bearer <key>``."""
    if api_key:
        return api_key
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


def _host(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _authorize(request: Request, key: str | None, bearer: Any, scope: Scope) -> Principal:
    """`AccessGate.authorize`; a refused admin action or deletion goes to the audit log."""
    gate: AccessGate = request.app.state.gate
    token = key or (bearer.credentials if bearer is not None else None)
    try:
        principal = gate.authorize(token, _host(request), scope)
    except _REFUSALS as exc:
        if scope == "admin" or request.method == "DELETE":
            parts = split_token(token) if token else None
            who = f"key:{parts[0]}" if parts else ("unknown key" if token else "anonymous")
            actor = f"{who}@{_host(request)}"
            action, target = _action(request)
            await _audit(request, actor, action, target, "refused", error=type(exc).__name__)
        raise
    request.state.principal = principal
    return principal


_PERSONAL = {"user_id", "anonymous_id"}


def _action(request: Request) -> tuple[str, str | None]:
    """What an audited request does (method and route path) and to what (path values)."""
    route = request.scope.get("route")
    action = f"{request.method} {getattr(route, 'path', request.url.path)}"
    ws: Workspace = request.app.state.workspace
    values = [
        subject_digest(ws.pseudonymizer.one(str(v))) if k in _PERSONAL else str(v)
        for k, v in request.path_params.items()
    ]  # a user is named by a digest: raw ids never rest in the audit log
    return action, "/".join(values) or None


async def _ingest(request: Request, key: KeyHeader, bearer: BearerHeader) -> Principal:
    return await _authorize(request, key, bearer, "ingest")


async def _read(request: Request, key: KeyHeader, bearer: BearerHeader) -> Principal:
    return await _authorize(request, key, bearer, "read")


async def _admin(
    request: Request, key: KeyHeader, bearer: BearerHeader
) -> AsyncIterator[Principal]:
    """Admin scope; the action goes to the audit log with its outcome, refusals included."""
    principal = await _authorize(request, key, bearer, "admin")
    action, target = _action(request)
    try:
        yield principal
    except Exception as exc:
        status = getattr(exc, "status_code", 500)
        await _audit(request, principal.actor, action, target, "error", status=status)
        raise
    # a route may name what it made (a new key's id) and add facts: request.state.audit
    detail = dict(getattr(request.state, "audit", None) or {})
    target = detail.pop("target", target)
    await _audit(request, principal.actor, action, target, "ok", **detail)


def actor_of(request: Request) -> str:
    """Who made the request, as the audit log names them (``api`` without a principal)."""
    return str(getattr(getattr(request.state, "principal", None), "actor", "api"))


async def _audit(request: Request, actor: str, action: str, target: str | None,
                 outcome: str, **detail: Any) -> None:  # fmt: skip
    log = AuditLog(request.app.state.workspace.store)
    await asyncio.to_thread(log.record, actor, action, target, outcome, **detail)


_CHECKS: dict[str, Callable[..., Any]] = {"ingest": _ingest, "read": _read, "admin": _admin}


def Scoped(scope: Scope) -> Any:  # noqa: N802 (reads as a marker on a route: Scoped("read"))
    """The dependency a route or router declares to need ``scope`` (admin covers all).

    A missing, unknown or revoked key answers 401, a key without the scope 403, a key over
    its rate limit 429. ``admin`` routes also write every attempt to the audit log.
    """
    return Depends(_CHECKS[scope])


def scope_of(dependency: Callable[..., Any]) -> str | None:
    """The scope a dependency declared with `Scoped` checks (None for any other)."""
    return next((s for s, f in _CHECKS.items() if f is dependency), None)


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
#: The request body, read after the access check and within ``ingest.max_body_bytes``.
RawBody = Annotated[bytes, Depends(read_body)]
