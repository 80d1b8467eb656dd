"""Access wiring of the app: the guard of ``/metrics`` and the API docs, and each route's
scope written into its OpenAPI description."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from tastemaker.access import AccessGate
from tastemaker.errors import TastemakerError, ValidationFailedError
from tastemaker.serving.deps import scope_of, token_of

#: Endpoints governed by ``serving.open_endpoints`` rather than a route scope.
OPEN_PATHS = frozenset({"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


class OpenEndpointsGuard:
    """Pure ASGI middleware: ``/metrics`` and the docs are open, open to loopback clients,
    or need a read key, as ``serving.open_endpoints`` says (`AccessGate.authorize_open`);
    an API request's query string (filters, ids, k) is bounded by ``serving.max_query_bytes``
    (422), whichever route or shortcut would answer it.

    Args:
        app: the rest of the application.
        gate: the app's access gate.
    """

    def __init__(self, app: Any, gate: AccessGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Refuse a request for an open endpoint the settings do not open to it, and an API
        request whose query string is over ``serving.max_query_bytes``."""
        if scope["type"] == "http":
            try:
                self._check(scope)
            except TastemakerError as exc:
                answer = JSONResponse(
                    exc.to_dict(), status_code=exc.status_code, headers=exc.headers()
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Any) -> None:
        path: str = scope.get("path", "")
        if path in OPEN_PATHS:
            headers = dict(scope.get("headers", ()))
            key, auth = headers.get(b"x-api-key"), headers.get(b"authorization")
            token = token_of(key and key.decode("latin-1"), auth and auth.decode("latin-1"))
            client = scope.get("client")
            self.gate.authorize_open(token, client[0] if client else None)
        limit = self.gate.settings.serving.max_query_bytes
        size = len(scope.get("query_string", b""))
        if size > limit and path.startswith("/v1/"):
            raise ValidationFailedError(
                f"query string: {size} bytes (at most {limit}: limit serving.max_query_bytes)",
                limit="serving.max_query_bytes",
            )


def describe_scopes(routers: list[APIRouter]) -> None:
    """Append the scope each route of ``routers`` needs to its OpenAPI description (once:
    the routers are module-level, shared by every app built)."""
    for router in routers:
        declared = [d.dependency for d in router.dependencies if d.dependency]
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            deps = declared + [d.dependency for d in route.dependencies if d.dependency]
            scopes = {s for s in (scope_of(d) for d in deps) if s is not None}
            if not scopes:
                continue
            scope = "admin" if "admin" in scopes else sorted(scopes)[0]
            note = f"**Scope:** `{scope}` (an `admin` key may call every route)."
            if note not in (route.description or ""):
                route.description = f"{route.description}\n\n{note}".strip()
