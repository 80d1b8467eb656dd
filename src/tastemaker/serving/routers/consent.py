"""PUT/GET /v1/users/{id}/consent: a user opts out of personalization or back in (ingest).

``{id}`` is the raw user id as the shop knows it. While opted out the user's events build
no profile and every list they get is the non-personalized one (see
``tastemaker.privacy.consent``); every process applies a change within
``privacy.consent_refresh_seconds``, this one at once.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.privacy.consent import get_consent, set_consent
from tastemaker.serving.bodies import body_schema, parse_body
from tastemaker.serving.deps import RawBody, Scoped, WorkspaceDep, actor_of
from tastemaker.serving.responses import error_responses

router = APIRouter(
    prefix="/v1/users",
    tags=["privacy"],
    dependencies=[Scoped("ingest")],
    responses=error_responses(401, 403, 422, 429, 503),
)


class ConsentBody(BaseModel):
    """The user's choice."""

    model_config = ConfigDict(extra="forbid")

    personalization: bool = Field(
        description="false: the user opts out (no profile, non-personalized lists); "
        "true: the user opts back in"
    )


class ConsentAnswer(BaseModel):
    """The recorded choice and what the opt-out dropped."""

    subject: str = Field(description="the audit log's digest of the user (no id)")
    personalization: bool
    at: str = Field(description="when (UTC, ISO 8601)")
    deleted: dict[str, int] = Field(description="store:profiles, redis:profiles -> deleted")
    applies_within_seconds: float = Field(
        description="every server process and stream worker applies it within this"
    )


class ConsentState(BaseModel):
    """Whether the user consents to personalization."""

    personalization: bool


def _answer(out: dict[str, object]) -> ConsentAnswer:
    out = dict(out)
    out["personalization"] = out.pop("consent")
    return ConsentAnswer.model_validate(out)


@router.put(
    "/{user_id}/consent", response_model=ConsentAnswer, openapi_extra=body_schema(ConsentBody)
)
async def put_consent(
    user_id: str, request: Request, ws: WorkspaceDep, raw: RawBody
) -> ConsentAnswer:
    """Record the user's opt-out of personalization (``personalization: false``) or their
    opt-in; an opt-out deletes their profile. Idempotent."""
    body = parse_body(ConsentBody, raw)
    actor = actor_of(request)
    receipt = await asyncio.to_thread(set_consent, ws, user_id, body.personalization, actor)
    return _answer(receipt.to_dict())


@router.get(
    "/{user_id}/consent",
    response_model=ConsentState,
    responses=error_responses(404, e404="the user is not stored"),
)
def read_consent(user_id: str, ws: WorkspaceDep) -> ConsentState:
    """Whether the user consents to personalization (true unless they opted out)."""
    return ConsentState(personalization=get_consent(ws, user_id))
