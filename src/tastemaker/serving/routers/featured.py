"""GET /v1/featured: the personalized featured listing for the top of a search page.

``filters`` uses the shared filter syntax of `tastemaker.rerank.filters`: a comma-separated
AND of ``field:value``, ``field:a|b``, ``field!=value`` and ``field<N`` / ``<=`` / ``>`` /
``>=`` clauses, e.g. ``fuel_type:electric,body_type:suv|mpv,price<30000``. They are hard
constraints; a malformed filter answers 422 with the clause at fault.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tastemaker.profiles.featured import FeaturedResult, FeaturedService
from tastemaker.profiles.impressions import ImpressionLogger
from tastemaker.serving.deps import WorkspaceDep, require_api_key
from tastemaker.serving.responses import error_responses
from tastemaker.storage.outage import is_outage, unavailable
from tastemaker.workspace import Workspace

router = APIRouter(
    prefix="/v1",
    tags=["featured"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 422, e422="a malformed filter (the clause at fault is named)"),
)


def featured_parts(request: Request, ws: WorkspaceDep) -> tuple[FeaturedService, ImpressionLogger]:
    """The app's featured-listing service and impression logger (created on first use)."""
    state = request.app.state
    parts = getattr(state, "featured", None)
    if parts is None or parts[2] is not ws:
        parts = (FeaturedService(ws.profiles), ImpressionLogger(ws.ingestor), ws)
        state.featured = parts
    return parts[0], parts[1]


def _ids(ws: Workspace, user_id: str | None, anonymous_id: str | None) -> tuple[str | None, ...]:
    user = ws.pseudonymizer.one(user_id) if user_id else None
    anon = ws.pseudonymizer.one(anonymous_id) if anonymous_id else None
    return user, anon


@router.get("/featured")
async def get_featured(
    ws: WorkspaceDep,
    parts: Annotated[tuple[FeaturedService, ImpressionLogger], Depends(featured_parts)],
    user_id: Annotated[str | None, Query(description="Raw user id (pseudonymized here).")] = None,
    anonymous_id: Annotated[str | None, Query(description="Visitor id before login.")] = None,
    filters: Annotated[
        str | None, Query(description="e.g. fuel_type:electric,body_type:suv,price<30000")
    ] = None,
    variant: Annotated[str | None, Query(description="Experiment variant, logged.")] = None,
) -> dict[str, Any]:
    """One listing that honors ``filters`` and best fits the user's segments.

    The response names the rule that chose the item (``segments:electric+suv`` or
    ``fallback:random``) and the reason; every served listing is logged as an impression.
    When the catalog store cannot be read the answer is ``fallback:unavailable`` without
    an item (never an error).
    """
    service, impressions = parts
    user, anon = _ids(ws, user_id, anonymous_id)
    key = user or (f"anon:{anon}" if anon else None)
    try:  # in a worker thread: reloading a changed catalog must not hold up other requests
        result = await asyncio.to_thread(service.choose, key, filters)
    except Exception as exc:  # an outage is never an error here: an empty, non-personalized answer
        if not is_outage(exc):
            raise
        result = FeaturedResult(None, "fallback:unavailable", unavailable(exc).message, False)
    body = result.to_dict()
    if result.item is not None:
        context = {"placement": "featured", "position": 0, "rule": result.rule}
        if variant:
            context["variant"] = variant
        body["impression_id"] = impressions.log(
            user, str(result.item["item_id"]), context, anonymous_id=anon
        )
    return body
