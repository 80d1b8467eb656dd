"""Profile endpoints: GET /v1/users/{id}/profile and GET /v1/users/{id}/segments.

``{id}`` is the raw user id as the shop knows it; it is pseudonymized before lookup.
"""

from __future__ import annotations

from fastapi import APIRouter

from tastemaker.errors import NotFoundError
from tastemaker.serving.deps import Scoped, WorkspaceDep
from tastemaker.serving.responses import ProfileResponse, SegmentsResponse, error_responses

router = APIRouter(
    prefix="/v1/users",
    tags=["profiles"],
    dependencies=[Scoped("read")],
    responses=error_responses(401, 403, 404, 422, 429, 503, e404="the user has no profile yet"),
)


@router.get("/{user_id}/profile", response_model=ProfileResponse)
def get_profile(user_id: str, ws: WorkspaceDep) -> ProfileResponse:
    """The user's real-time profile: segments, traits, shares, affinities and timeline."""
    profile = ws.profiles.get(ws.pseudonymizer.one(user_id))
    if profile is None:
        raise NotFoundError(f"user '{user_id}' has no profile yet", user_id=user_id)
    return ProfileResponse.model_validate(profile.to_dict())


@router.get("/{user_id}/segments", response_model=SegmentsResponse)
def get_segments(user_id: str, ws: WorkspaceDep) -> SegmentsResponse:
    """The segments the user belongs to, with scores, and the rules version that decided."""
    profile = ws.profiles.get(ws.pseudonymizer.one(user_id))
    if profile is None:
        raise NotFoundError(f"user '{user_id}' has no profile yet", user_id=user_id)
    return SegmentsResponse(
        segments=profile.segments,
        rules_version=profile.rules_version,
        last_seen=profile.traits.get("last_seen"),
    )
