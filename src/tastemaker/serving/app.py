"""The FastAPI application: wiring only (routers, error handler, state)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tastemaker import __version__
from tastemaker.access import AccessGate
from tastemaker.errors import TastemakerError
from tastemaker.monitoring.exporter import MonitoringCollector
from tastemaker.serving import metrics
from tastemaker.serving.guard import OpenEndpointsGuard, describe_scopes
from tastemaker.serving.routers import consent as consent_router
from tastemaker.serving.routers import (
    experiments,
    featured,
    feedback,
    health,
    ingest,
    items,
    recommendations,
)
from tastemaker.serving.routers import keys as keys_router
from tastemaker.serving.routers import privacy as privacy_router
from tastemaker.serving.routers import profiles as profiles_router
from tastemaker.serving.routers import propensity as propensity_router
from tastemaker.storage.outage import is_outage, unavailable
from tastemaker.workspace import Workspace


def error_answer(exc: TastemakerError) -> JSONResponse:
    """The JSON answer of an error (`ErrorBody`), with its status and headers."""
    return JSONResponse(exc.to_dict(), status_code=exc.status_code, headers=exc.headers())


async def _error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TastemakerError)
    return error_answer(exc)


async def _unexpected_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A bug: a JSON 500 (the server logs the exception and closes the connection)."""
    body = {"error": "InternalError", "message": "internal error; the server log has the details"}
    return JSONResponse(body, status_code=500)


class _OutageAnswers:
    """Pure ASGI middleware: a backend outage that escaped a route as a driver error (not
    `StoreUnavailableError`) is answered 503 with ``Retry-After`` here.

    Starlette's catch-all handler answers and then raises the exception again, and uvicorn
    then closes the connection: a client keeping it alive would see its next request reset.
    An outage is not a bug, so it is answered here and goes no further.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started or not is_outage(exc):
                raise
            await error_answer(unavailable(exc))(scope, receive, send)


async def _request_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Parameter errors (k out of range, wrong types) in the same shape as every other error."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    ]
    body = {"error": "ValidationFailedError", "message": "; ".join(problems), "detail": problems}
    return JSONResponse(body, status_code=422)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.workspace.store.prepare_writes()  # the first ingested batch does not wait
    loader = health.start_loading(app) if app.state.preload else None
    yield
    if loader is not None:  # an engine still being built is closed below, not leaked
        await asyncio.to_thread(loader.join)
    engine = getattr(app.state, "engine", None)
    if engine is not None:  # a clean shutdown stores the impressions still buffered
        engine.close()
    metrics.process_exit()


_SCOPED = (
    ingest,
    profiles_router,
    consent_router,
    featured,
    recommendations,
    items,
    feedback,
    propensity_router,
    experiments,
    keys_router,
    privacy_router,
)


def create_app(workspace: Workspace, *, preload: bool = False) -> FastAPI:
    """Build the API for an opened workspace.

    Args:
        workspace: the opened workspace.
        preload: load the model in a background thread as soon as the app starts (the
            server does; ``/readyz`` answers 503 until it is loaded). Otherwise the first
            ``/readyz`` or recommendation request loads it.
    """
    app = FastAPI(
        lifespan=_lifespan,
        title="tastemaker",
        version=__version__,
        description="Recommendation and personalization API: ingestion, profiles, recommendations.",
    )
    app.state.workspace = workspace
    app.state.preload = preload
    # the one access check (routes, the shortcut and the open endpoints' guard call it)
    app.state.gate = gate = AccessGate(workspace.settings, workspace.store)
    if workspace.settings.serving.api_key:
        logging.getLogger(__name__).warning(
            "serving.api_key is deprecated: it acts as an admin key and makes every request "
            "need a key; create scoped keys with `tastemaker keys create` and remove it"
        )
    app.add_exception_handler(TastemakerError, _error_handler)
    app.add_exception_handler(RequestValidationError, _request_error_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
    describe_scopes([r.router for r in _SCOPED])
    app.include_router(health.router)
    app.include_router(ingest.router)
    app.include_router(profiles_router.router)
    app.include_router(privacy_router.router)
    app.include_router(keys_router.router)
    app.include_router(consent_router.router)
    app.include_router(featured.router)
    app.add_middleware(_OutageAnswers)  # inside the metrics middleware: it counts the 503
    observed = metrics.install_metrics(app)
    observed.add_collector(MonitoringCollector(workspace))  # drift, online, alerts, model age
    workspace.ingestor.observers.append(observed.ingested)
    app.include_router(metrics.router)
    app.include_router(recommendations.router)
    app.include_router(items.router)
    app.include_router(feedback.router)
    app.include_router(propensity_router.router)
    app.include_router(experiments.router)
    # outermost: a plain recommendation request skips the framework (errors go to the route)
    app.add_middleware(recommendations.RecommendationShortcut, fastapi=app)
    # outside the shortcut: /metrics and the docs, and the query-string bound of every route
    app.add_middleware(OpenEndpointsGuard, gate=gate)
    return app
