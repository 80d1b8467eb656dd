"""POST /v1/feedback: "not interested" / "don't show this again"."""

from __future__ import annotations

from fastapi import APIRouter

from tastemaker.serving.bodies import body_schema, parse_body
from tastemaker.serving.deps import EngineDep, RawBody, Scoped
from tastemaker.serving.responses import (
    FeedbackRequest,
    FeedbackResponse,
    error_responses,
)

router = APIRouter(
    prefix="/v1",
    tags=["recommendations"],
    dependencies=[Scoped("ingest")],
    responses=error_responses(401, 403, 413, 422, 429, 503),
)


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses=error_responses(404, e404="unknown item"),
    openapi_extra=body_schema(FeedbackRequest),
)
def feedback(engine: EngineDep, raw: RawBody) -> FeedbackResponse:
    """Store a ``not_interested`` event: the item leaves the user's lists at once.

    Both the recommendation list and the featured listing honour it.
    """
    body = parse_body(FeedbackRequest, raw)
    event_id = engine.feedback(body.user_id, body.item_id, body.kind, body.request_id)
    return FeedbackResponse(accepted=True, event_id=event_id)
