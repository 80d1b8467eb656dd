"""PUT/GET /v1/users/{id}/consent: a user opts out of personalization or back in (ingest).

``{id}`` is the raw user id as the shop knows it. While opted out the user's events build
no profile and every list they get is the non-personalized one (see
``tastemaker.privacy.consent``); every process applies a change within
``privacy.consent_refresh_seconds``, this one at once.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tastemaker.errors import ValidationFailedError
from tastemaker.privacy.consent import get_consent, set_consent
from tastemaker.serving.deps import RawBody, Scoped, WorkspaceDep
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


_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ConsentBody.model_json_schema()}},
    }
}


def _parse(raw: bytes) -> ConsentBody:
    """The body as a `ConsentBody` (read within ``ingest.max_body_bytes``).

    Raises:
        ValidationFailedError: not JSON, or the field missing, unknown or not a boolean.
    """
    try:
        return ConsentBody.model_validate_json(raw)
    except ValidationError as exc:
        problems = [f"body.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailedError("; ".join(problems)) from None


def _answer(out: dict[str, object]) -> ConsentAnswer:
    out = dict(out)
    out["personalization"] = out.pop("consent")
    return ConsentAnswer.model_validate(out)


@router.put("/{user_id}/consent", response_model=ConsentAnswer, openapi_extra=_BODY)
async def put_consent(
    user_id: str, request: Request, ws: WorkspaceDep, raw: RawBody
) -> ConsentAnswer:
    """Record the user's opt-out of personalization (``personalization: false``) or their
    opt-in; an opt-out deletes their profile. Idempotent."""
    body = _parse(raw)
    principal = getattr(request.state, "principal", None)
    actor = getattr(principal, "actor", "api")
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
