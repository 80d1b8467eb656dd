"""POST /v1/feedback: "not interested" / "don't show this again"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import polars as pl
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError

from tastemaker.errors import UnknownItemError, ValidationFailedError
from tastemaker.serving.deps import RawBody, require_api_key
from tastemaker.serving.responses import (
    FeedbackRequest,
    FeedbackResponse,
    error_responses,
)
from tastemaker.serving.runtime import get_runtime

router = APIRouter(
    prefix="/v1",
    tags=["recommendations"],
    dependencies=[Depends(require_api_key)],
    responses=error_responses(401, 413, 422, 503),
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
def feedback(request: Request, raw: RawBody) -> FeedbackResponse:
    """Store a ``not_interested`` event: the item leaves the user's lists at once."""
    body = _parse(raw)
    runtime = get_runtime(request)
    table = runtime.active.table
    idx = table.vocab.index_of(body.item_id)
    if idx < 0 or not table.in_catalog[idx]:
        raise UnknownItemError(body.item_id)
    event_id = f"fb-{uuid.uuid4().hex}"
    props = {"kind": body.kind, "request_id": body.request_id}
    frame = pl.DataFrame(
        {
            "event_id": [event_id],
            "user_id": [body.user_id],
            "type": ["not_interested"],
            "item_id": [body.item_id],
            "timestamp": [datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")],
            "properties": [orjson.dumps(props).decode()],
        }
    )
    summary = runtime.ws.ingestor.ingest_events(frame, "feedback")
    if summary.rejected:
        raise ValidationFailedError(f"feedback refused: {summary.rejections[0].reason}")
    return FeedbackResponse(accepted=summary.accepted == 1, event_id=event_id)
