"""Response and request bodies of the recommendation endpoints (documented in OpenAPI).

The pydantic models document the API; the engine builds
:class:`tastemaker.engine.served.ServedList` (plain slots) and writes the same JSON with
orjson, so no model is built or validated per item.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RecommendedItem(BaseModel):
    """One recommended item with its score and why it is there."""

    item_id: str
    score: float
    reason: str = Field(description='e.g. "because you viewed X", "popular in electric"')
    source: str = Field(description="candidate source: ann, recent_neighbors, popular, ...")


class RecommendationResponse(BaseModel):
    """A personalized list."""

    user_id: str
    request_id: str
    model_version: str
    variant: str = Field(description="control, canary, or fallback (no model promoted)")
    cold_start: bool = Field(description="the user is unknown: a popularity-based list")
    items: list[RecommendedItem]


class SimilarResponse(BaseModel):
    """Items related to one item."""

    item_id: str
    model_version: str
    kind: Literal["similar", "bought_together"]
    items: list[RecommendedItem]


class FeedbackRequest(BaseModel):
    """Negative feedback on an item: stored as a ``not_interested`` event."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=256)
    item_id: str = Field(min_length=1, max_length=256)
    kind: Literal["not_interested", "dont_show_again"] = "not_interested"
    request_id: str | None = Field(default=None, max_length=256)


class FeedbackResponse(BaseModel):
    """What was stored."""

    accepted: bool
    event_id: str


class ErrorBody(BaseModel):
    """Every error answer: the kind of error and a message saying what was wrong.

    Some errors add fields (``item_id``, ``user_id``, ``backend``); parameter errors list
    each problem in ``detail``.
    """

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="kind of error, e.g. ValidationFailedError, AuthError")
    message: str = Field(description="what was wrong, naming the field or limit at fault")
    detail: list[str] | None = Field(default=None, description="one entry per bad parameter")


_ERRORS: dict[int, str] = {
    401: "missing or wrong X-API-Key header (when serving.api_key is set)",
    404: "unknown resource",
    413: "request body larger than ingest.max_body_bytes",
    422: "invalid parameters or body (the message names the field and the limit)",
    503: "a backend store is unreachable: retry after the Retry-After header's seconds",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each with the `ErrorBody` schema.

    ``descriptions`` override the default text of a status (``e404="unknown item"``).
    """
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "model": ErrorBody,
            "description": descriptions.get(f"e{code}", _ERRORS[code]),
        }
        if code == 503:
            entry["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        out[code] = entry
    return out
