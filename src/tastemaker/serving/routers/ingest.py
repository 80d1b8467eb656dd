"""Ingestion endpoints: POST /v1/events, PUT /v1/items, PUT /v1/users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from tastemaker.ingest.body import body_to_frame
from tastemaker.schema import Event, IngestSummary, Item, User
from tastemaker.serving.deps import WorkspaceDep, require_api_key

router = APIRouter(prefix="/v1", tags=["ingestion"], dependencies=[Depends(require_api_key)])


def _body_schema(model: type, key: str) -> dict[str, Any]:
    item = model.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[attr-defined]
    item.pop("$defs", None)
    array = {"type": "array", "items": item, "maxItems": 1000}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            array,
                            {"type": "object", "properties": {key: array}, "required": [key]},
                        ]
                    }
                }
            },
        }
    }


@router.post("/events", response_model=IngestSummary, openapi_extra=_body_schema(Event, "events"))
async def post_events(request: Request, ws: WorkspaceDep) -> IngestSummary:
    """Ingest up to 1,000 events; valid ones are stored, refused ones listed with reasons."""
    frame = body_to_frame(await request.body(), "events", ws.settings.ingest.max_batch)
    # Stored by the group-commit thread: the event loop keeps reading requests, and batches
    # that arrive while one is stored are stored together.
    return await ws.ingestor.group_commit.submit_async(frame, "api")


@router.put("/items", response_model=IngestSummary, openapi_extra=_body_schema(Item, "items"))
async def put_items(request: Request, ws: WorkspaceDep) -> IngestSummary:
    """Insert or update catalog items."""
    frame = body_to_frame(await request.body(), "items")
    return ws.ingestor.ingest_items(frame, "api")


@router.put("/users", response_model=IngestSummary, openapi_extra=_body_schema(User, "users"))
async def put_users(request: Request, ws: WorkspaceDep) -> IngestSummary:
    """Insert or update users (ids are pseudonymized before storage)."""
    frame = body_to_frame(await request.body(), "users")
    return ws.ingestor.ingest_users(frame, "api")
