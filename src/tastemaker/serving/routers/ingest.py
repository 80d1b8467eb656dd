"""Ingestion endpoints: POST /v1/events; PUT, PATCH /v1/items and /v1/users; DELETE /v1/items/{id}.

Every route authenticates (router dependency) before its body is read, and reads at most
``ingest.max_body_bytes`` (`RawBody`). Events are parsed on the event loop and stored by
group commit; catalog and user writes (rarer, and possibly large) run in a worker thread
so that they never hold up other requests.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from tastemaker.config import IngestConfig
from tastemaker.errors import NotFoundError
from tastemaker.ingest.body import EVENTS, ITEMS, USERS, RowShape, body_to_frame
from tastemaker.schema import Event, IngestSummary, Item, User
from tastemaker.serving.deps import RawBody, Scoped, WorkspaceDep
from tastemaker.serving.responses import error_responses
from tastemaker.workspace import Workspace

router = APIRouter(
    prefix="/v1",
    tags=["ingestion"],
    dependencies=[Scoped("ingest")],
    responses=error_responses(401, 403, 413, 422, 429, 503),
)

_MAX_ROWS = IngestConfig().max_batch


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``#/$defs/X`` reference replaced by the definition itself."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _body_schema(model: type[BaseModel], key: str) -> dict[str, Any]:
    """The request body: a list of ``model`` rows, bare or under ``key`` (definitions inline,
    so the schema is whole wherever it is read)."""
    item = model.model_json_schema()
    item = _inline(item, item.pop("$defs", {}))
    array = {"type": "array", "items": item, "maxItems": _MAX_ROWS}
    wrapped = {"type": "object", "properties": {key: array}, "required": [key]}
    content = {"application/json": {"schema": {"oneOf": [array, wrapped]}}}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/events", response_model=IngestSummary, openapi_extra=_body_schema(Event, "events"))
async def post_events(raw: RawBody, ws: WorkspaceDep) -> IngestSummary:
    """Ingest up to 1,000 events; valid ones are stored, refused ones listed with reasons.

    A row is refused on its own (index, field, reason) for an unknown field, a reserved
    name, an id over ``ingest.max_id_length`` or holding NUL, a JSON field over
    ``ingest.max_json_bytes`` or nested deeper than ``ingest.max_json_depth``, and every
    rule of the data model.
    """
    frame = body_to_frame(raw, EVENTS, ws.settings.ingest).frame
    # Stored by the group-commit thread: the event loop keeps reading requests, and batches
    # that arrive while one is stored are stored together.
    return await ws.ingestor.group_commit.submit_async(frame, "api")


def _upsert(ws: Workspace, raw: bytes, shape: RowShape) -> IngestSummary:
    frame = body_to_frame(raw, shape, ws.settings.ingest).frame
    kind = "item" if shape is ITEMS else "user"
    return ws.ingestor.ingest(kind, frame, "api")


def _patch(ws: Workspace, raw: bytes, shape: RowShape) -> IngestSummary:
    parsed = body_to_frame(raw, shape, ws.settings.ingest, present=True)
    assert parsed.present is not None
    kind = "item" if shape is ITEMS else "user"
    return ws.ingestor.patch(kind, parsed.frame, parsed.present, "api")


@router.put("/items", response_model=IngestSummary, openapi_extra=_body_schema(Item, "items"))
async def put_items(raw: RawBody, ws: WorkspaceDep) -> IngestSummary:
    """Insert or replace catalog items: each row replaces the whole stored item (fields it
    does not give become empty). Use PATCH to change some fields only."""
    return await asyncio.to_thread(_upsert, ws, raw, ITEMS)


@router.patch("/items", response_model=IngestSummary, openapi_extra=_body_schema(Item, "items"))
async def patch_items(raw: RawBody, ws: WorkspaceDep) -> IngestSummary:
    """Change some fields of catalog items: given fields (attributes too) change, absent ones
    keep their stored values, an explicit null clears one; an unknown id is created."""
    return await asyncio.to_thread(_patch, ws, raw, ITEMS)


class Deleted(BaseModel):
    """What a deletion removed."""

    item_id: str
    deleted: bool


@router.delete(
    "/items/{item_id}",
    response_model=Deleted,
    responses=error_responses(404, e404="unknown item"),
    dependencies=[Scoped("admin")],
)
async def delete_item(
    item_id: Annotated[str, Path(min_length=1, max_length=256)], ws: WorkspaceDep
) -> Deleted:
    """Remove an item from the catalog (its events stay in the log)."""
    if "\x00" in item_id or not await asyncio.to_thread(ws.store.delete_items, [item_id]):
        raise NotFoundError(f"item '{item_id[:64]}' is not in the catalog", item_id=item_id[:256])
    return Deleted(item_id=item_id, deleted=True)


@router.put("/users", response_model=IngestSummary, openapi_extra=_body_schema(User, "users"))
async def put_users(raw: RawBody, ws: WorkspaceDep) -> IngestSummary:
    """Insert or replace users (each row replaces the whole stored user; ids are
    pseudonymized before storage)."""
    return await asyncio.to_thread(_upsert, ws, raw, USERS)


@router.patch("/users", response_model=IngestSummary, openapi_extra=_body_schema(User, "users"))
async def patch_users(raw: RawBody, ws: WorkspaceDep) -> IngestSummary:
    """Change some fields of users: given fields change, absent ones stay, null clears."""
    return await asyncio.to_thread(_patch, ws, raw, USERS)
