"""POST /v1/feedback: "not interested" / "don't show this again"."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import polars as pl
from fastapi import APIRouter, Request

from tastemaker.errors import UnknownItemError, ValidationFailedError
from tastemaker.serving.responses import FeedbackRequest, FeedbackResponse
from tastemaker.serving.runtime import check_api_key, get_runtime

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={404: {"description": "unknown item"}},
)
def feedback(request: Request, body: FeedbackRequest) -> FeedbackResponse:
    """Store a ``not_interested`` event: the item leaves the user's lists at once."""
    check_api_key(request)
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
