"""GET /v1/featured: the personalized featured listing for the top of a search page.

``filters`` uses the shared filter syntax of `tastemaker.rerank.filters`: a comma-separated
AND of ``field:value``, ``field:a|b``, ``field!=value`` and ``field<N`` / ``<=`` / ``>`` /
``>=`` clauses, e.g. ``fuel_type:electric,body_type:suv|mpv,price<30000``. They are hard
constraints; a malformed filter answers 422 with the clause at fault.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from tastemaker.engine.featured import FeaturedResult
from tastemaker.serving.deps import EngineDep, Scoped
from tastemaker.serving.responses import FeaturedResponse, error_responses
from tastemaker.storage.outage import is_outage, unavailable

router = APIRouter(
    prefix="/v1",
    tags=["featured"],
    dependencies=[Scoped("read")],
    responses=error_responses(
        401, 403, 422, 429, e422="a malformed filter (the clause at fault is named)"
    ),
)


@router.get("/featured", response_model=FeaturedResponse, response_model_exclude_unset=True)
async def get_featured(
    engine: EngineDep,
    user_id: Annotated[str | None, Query(description="Raw user id (pseudonymized here).")] = None,
    anonymous_id: Annotated[str | None, Query(description="Visitor id before login.")] = None,
    filters: Annotated[
        str | None, Query(description="e.g. fuel_type:electric,body_type:suv,price<30000")
    ] = None,
    variant: Annotated[str | None, Query(description="Experiment variant, logged.")] = None,
) -> FeaturedResponse:
    """One listing that honors ``filters``, the hard filters and the user's feedback, and
    best fits the user's segments.

    The response names the rule that chose the item (``segments:electric+suv`` or
    ``fallback:random``) and the reason; every served listing is logged as an impression.
    When the catalog store cannot be read the answer is ``fallback:unavailable`` without
    an item (never an error).
    """
    try:  # in a worker thread: reloading a changed catalog must not hold up other requests
        result, impression_id = await asyncio.to_thread(
            engine.featured, user_id, anonymous_id, filters, variant
        )
    except Exception as exc:  # an outage is never an error here: an empty, non-personalized answer
        if not is_outage(exc):
            raise
        result = FeaturedResult(None, "fallback:unavailable", unavailable(exc).message, False)
        impression_id = None
    body = result.to_dict()
    if impression_id is not None:  # absent (not null) without an impression
        body["impression_id"] = impression_id
    return FeaturedResponse.model_validate(body)
