"""Ingestion endpoints: POST /v1/events, PUT /v1/items, PUT /v1/users."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import polars as pl
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from tastemaker.errors import ValidationFailedError
from tastemaker.schema import Event, IngestSummary, Item, User
from tastemaker.serving.deps import WorkspaceDep, require_api_key
from tastemaker.serving.records import records_to_frame, unwrap

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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector from running inside the block.

    A body of 500 events parses into a thousand dicts that die a millisecond later, when
    the columns are built. Counted while alive they trigger collections that walk every
    live object of the process (the serving state included), which cost the event loop
    more than parsing itself. Objects freed inside the block take their counts back
    with them, so collections after it run as often as the surviving objects warrant.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _frame(request: Request, what: str, limit: int | None = None) -> pl.DataFrame:
    """The body (a JSON list, or ``{what: [...]}``) as an all-text frame.

    Raises:
        ValidationFailedError: not JSON, not a list of objects, or more than ``limit`` rows.
    """
    raw = await request.body()
    with _collector_paused():
        try:
            records = unwrap(orjson.loads(raw), what)
        except orjson.JSONDecodeError as exc:
            raise ValidationFailedError(f"body: not valid JSON ({exc})") from exc
        if limit is not None and isinstance(records, list) and len(records) > limit:
            raise ValidationFailedError(
                f"body: {len(records)} {what} in one batch (at most {limit})"
            )
        frame = records_to_frame(records, what)
        del records  # freed while the collector is paused (see above)
    return frame


@router.post("/events", response_model=IngestSummary, openapi_extra=_body_schema(Event, "events"))
async def post_events(request: Request, ws: WorkspaceDep) -> IngestSummary:
    """Ingest up to 1,000 events; valid ones are stored, refused ones listed with reasons."""
    frame = await _frame(request, "events", ws.settings.ingest.max_batch)
    # In a worker thread: the event loop keeps reading requests, and batches that arrive
    # while one is stored are stored together (group commit).
    return await run_in_threadpool(ws.ingestor.group_commit.submit, frame, "api")


@router.put("/items", response_model=IngestSummary, openapi_extra=_body_schema(Item, "items"))
async def put_items(request: Request, ws: WorkspaceDep) -> IngestSummary:
    """Insert or update catalog items."""
    frame = await _frame(request, "items")
    return ws.ingestor.ingest_items(frame, "api")


@router.put("/users", response_model=IngestSummary, openapi_extra=_body_schema(User, "users"))
async def put_users(request: Request, ws: WorkspaceDep) -> IngestSummary:
    """Insert or update users (ids are pseudonymized before storage)."""
    frame = await _frame(request, "users")
    return ws.ingestor.ingest_users(frame, "api")
