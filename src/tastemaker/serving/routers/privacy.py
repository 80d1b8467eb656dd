"""DELETE /v1/users/{id}: forget a user everywhere (admin); the answer is the receipt.

``{id}`` is the raw user id as the shop knows it; ``anonymous_id`` names device or cookie
ids of the user that no identify linked (linked ones are found). The audit row names the
user by a digest only (see ``tastemaker.privacy.forget``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tastemaker.privacy.forget import forget_user
from tastemaker.serving.deps import Scoped, WorkspaceDep, actor_of
from tastemaker.serving.responses import error_responses

router = APIRouter(
    prefix="/v1/users",
    tags=["privacy"],
    dependencies=[Scoped("admin")],
    responses=error_responses(401, 403, 422, 429, 503),
)


class ForgetReceiptBody(BaseModel):
    """What was deleted where (counts; places with nothing to delete are left out)."""

    subject: str = Field(description="the audit log's digest of the user (no id)")
    anonymous_ids: int = Field(description="anonymous ids of the user that were forgotten too")
    at: str = Field(description="when (UTC, ISO 8601)")
    deleted: dict[str, int] = Field(
        description="store:<table>, redis:<what>, file:<path>, model:<path> -> rows deleted"
    )
    total: int


@router.delete("/{user_id}", response_model=ForgetReceiptBody)
async def forget(
    user_id: str,
    request: Request,
    ws: WorkspaceDep,
    anonymous_id: Annotated[list[str] | None, Query(max_length=100)] = None,
) -> ForgetReceiptBody:
    """Forget the user: events (with their anonymous ids'), links, profile, dead letters,
    experiment exposures, logs and their rows in model versions. Idempotent; a 503 means
    part is left (Redis or the store failed, or stream workers lag): call it again."""
    actor = actor_of(request)
    engine = getattr(request.app.state, "engine", None)
    if engine is not None:  # events this process served the user and still buffers go first
        await asyncio.to_thread(engine.sink.flush)
    receipt = await asyncio.to_thread(forget_user, ws, user_id, tuple(anonymous_id or ()), actor)
    if engine is not None:  # this process serves the change at once; others on refresh
        engine.forget(ws.pseudonymizer.one(user_id))
    return ForgetReceiptBody.model_validate(receipt.to_dict())
