"""GET /v1/recommendations/{user_id}: the personalized list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from tastemaker.rerank.filters import parse_filters
from tastemaker.serving.responses import RecommendationResponse
from tastemaker.serving.runtime import ServingRuntime, check_api_key, get_runtime

router = APIRouter(prefix="/v1", tags=["recommendations"])

UserId = Annotated[str, Path(min_length=1, max_length=256, description="The shop's user id.")]
K = Annotated[int | None, Query(ge=1, le=500, description="List length (default from config).")]
FiltersQ = Annotated[
    str | None,
    Query(max_length=2000, description="e.g. fuel_type:electric,body_type:suv|mpv,price<30000"),
]
ContextQ = Annotated[str | None, Query(max_length=256, description="Page or placement.")]


@router.get(
    "/recommendations/{user_id}",
    response_model=RecommendationResponse,
    responses={422: {"description": "k outside 1..500 or a malformed filter"}},
)
async def recommendations(
    request: Request,
    user_id: UserId,
    k: K = None,
    filters: FiltersQ = None,
    context: ContextQ = None,
) -> Response:
    """A personalized list; an unknown user gets the cold-start list (``cold_start: true``).

    Runs on the event loop: the pipeline is a millisecond or two of GIL-bound work, so a
    hop to the thread pool only adds overhead (the first call loads the model off the loop).
    """
    check_api_key(request)
    runtime: ServingRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        runtime = await run_in_threadpool(get_runtime, request)
    parsed = parse_filters(filters)
    size = k if k is not None else runtime.ws.settings.serving.default_k
    result = runtime.recommend(user_id, size, parsed, context)
    return Response(result.to_json(), media_type="application/json")
