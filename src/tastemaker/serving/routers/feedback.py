"""POST /v1/feedback: "not interested" / "don't show this again"."""

from __future__ import annotations

from fastapi import APIRouter

from tastemaker.serving.deps import Authenticated, EngineDep
from tastemaker.serving.responses import FeedbackRequest, FeedbackResponse

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[Authenticated])


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={404: {"description": "unknown item"}},
)
def feedback(engine: EngineDep, body: FeedbackRequest) -> FeedbackResponse:
    """Store a ``not_interested`` event: the item leaves the user's lists at once.

    Both the recommendation list and the featured listing honour it.
    """
    event_id = engine.feedback(body.user_id, body.item_id, body.kind, body.request_id)
    return FeedbackResponse(accepted=True, event_id=event_id)
