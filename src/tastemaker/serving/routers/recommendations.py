"""GET /v1/recommendations/{user_id}: the personalized list.

The FastAPI route documents the endpoint (OpenAPI), validates its parameters and answers
every error. :class:`RecommendationShortcut` answers the plain case without FastAPI's
request machinery (routing through its middleware, dependency solving, parameter models:
about 0.4 ms of a 2-4 ms request): a well-formed request for a loaded engine. Anything
else (a missing or malformed parameter, a wrong API key, an error while answering, the
model not loaded yet) goes to the route, so every error keeps one answer. Both produce
the body with :func:`answer`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Path, Query
from fastapi.responses import Response

from tastemaker.engine.runtime import Engine
from tastemaker.errors import TastemakerError
from tastemaker.rerank.filters import parse_filters
from tastemaker.serving.deps import EngineDep, Scoped, token_of
from tastemaker.serving.metrics import ServingMetrics
from tastemaker.serving.responses import RecommendationResponse, error_responses
from tastemaker.storage.outage import is_outage

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[Scoped("read")])

PATH = "/v1/recommendations/{user_id}"
MAX_USER_ID, MAX_K, MAX_FILTERS, MAX_CONTEXT = 256, 500, 2000, 256

UserId = Annotated[
    str, Path(min_length=1, max_length=MAX_USER_ID, description="The shop's user id.")
]
K = Annotated[int | None, Query(ge=1, le=MAX_K, description="List length (default from config).")]
FiltersQ = Annotated[
    str | None,
    Query(
        max_length=MAX_FILTERS,
        description="e.g. fuel_type:electric,body_type:suv|mpv,price<30000",
    ),
]
ContextQ = Annotated[str | None, Query(max_length=MAX_CONTEXT, description="Page or placement.")]


def answer(
    engine: Engine, user_id: str, k: int | None, filters: str | None, context: str | None
) -> bytes:
    """The JSON body of a recommendation request.

    Raises:
        ValidationFailedError: a malformed filter.
    """
    parsed = parse_filters(filters)
    size = k if k is not None else engine.ws.settings.serving.default_k
    return engine.recommend(user_id, size, parsed, context).to_json()


@router.get(
    "/recommendations/{user_id}",
    response_model=RecommendationResponse,
    responses=error_responses(401, 403, 422, 429, e422="k outside 1..500 or a malformed filter"),
)
async def recommendations(
    engine: EngineDep,
    user_id: UserId,
    k: K = None,
    filters: FiltersQ = None,
    context: ContextQ = None,
) -> Response:
    """A personalized list; an unknown user gets the cold-start list (``cold_start: true``).

    Runs on the event loop: the pipeline is a millisecond or two of GIL-bound work, so a
    hop to the thread pool only adds overhead (the first call loads the model off the loop).
    """
    body = answer(engine, user_id, k, filters, context)
    return Response(body, media_type="application/json")


_PREFIX = PATH.split("{")[0]
_PARAMS = {"k": MAX_K, "filters": MAX_FILTERS, "context": MAX_CONTEXT}


def plain_request(scope: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """User id and parameters of a well-formed recommendation request, else None.

    Well-formed: ``GET`` on the endpoint's path, a user id of 1-256 characters, each known
    parameter at most once, non-empty and within its length, ``k`` a number in 1..500.
    Unknown parameters are ignored, as the route ignores them.
    """
    path: str = scope.get("path", "")
    if scope.get("method") != "GET" or not path.startswith(_PREFIX) or scope.get("root_path"):
        return None
    user_id = path[len(_PREFIX) :]
    if not user_id or "/" in user_id or len(user_id) > MAX_USER_ID:
        return None
    params: dict[str, str] = {}
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        limit = _PARAMS.get(name)
        if limit is None:
            continue
        if name in params or not value or len(value) > limit:
            return None
        params[name] = value
    k = params.get("k")
    if k is not None and not (k.isascii() and k.isdigit() and 1 <= int(k) <= MAX_K):
        return None
    return user_id, params


class RecommendationShortcut:
    """Pure ASGI middleware answering plain recommendation requests (see module docs).

    Args:
        app: the rest of the application.
        fastapi: the FastAPI app (its state holds the engine, settings and metrics).
    """

    def __init__(self, app: Any, fastapi: FastAPI) -> None:
        self.app = app
        self.state = fastapi.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer a plain request for a loaded engine; hand everything else on."""
        start = time.perf_counter()
        engine: Engine | None = getattr(self.state, "engine", None)
        found = plain_request(scope) if scope["type"] == "http" and engine else None
        body = None
        if found is not None and engine is not None and self._authorized(scope):
            user_id, params = found
            k = params.get("k")
            try:
                body = answer(
                    engine,
                    user_id,
                    int(k) if k is not None else None,
                    params.get("filters"),
                    params.get("context"),
                )
            except Exception as exc:
                if not (isinstance(exc, TastemakerError) or is_outage(exc)):
                    raise
                body = None  # the route gives the documented error (or outage) answer
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        metrics: ServingMetrics | None = getattr(self.state, "metrics", None)
        if metrics is not None:
            latency, count = metrics.http_children(PATH, "GET", 200)
            latency.observe(time.perf_counter() - start)
            count.inc()

    def _authorized(self, scope: Any) -> bool:
        """The route's own check (`AccessGate.authorize`, scope read); a refusal goes to the
        route, which answers it."""
        headers = dict(scope.get("headers", ()))
        key, auth = headers.get(b"x-api-key"), headers.get(b"authorization")
        token = token_of(key and key.decode("latin-1"), auth and auth.decode("latin-1"))
        client = scope.get("client")
        try:
            self.state.gate.authorize(token, client[0] if client else None, "read")
        except TastemakerError:
            return False
        return True
