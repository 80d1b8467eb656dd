"""POST /v1/feedback: "not interested" / "don't show this again"."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError

from tastemaker.errors import ValidationFailedError
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
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
    }
}


def _parse(raw: bytes) -> FeedbackRequest:
    """The feedback body (read after the API key was checked).

    Raises:
        ValidationFailedError: not JSON or not the documented shape (field and reason).
    """
    try:
        return FeedbackRequest.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        raise ValidationFailedError("; ".join(problems), detail=problems) from None


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses=error_responses(404, e404="unknown item"),
    openapi_extra=_BODY,
)
def feedback(engine: EngineDep, raw: RawBody) -> FeedbackResponse:
    """Store a ``not_interested`` event: the item leaves the user's lists at once.

    Both the recommendation list and the featured listing honour it.
    """
    body = _parse(raw)
    event_id = engine.feedback(body.user_id, body.item_id, body.kind, body.request_id)
    return FeedbackResponse(accepted=True, event_id=event_id)
