"""Response and request bodies of the API endpoints (documented in OpenAPI).

The pydantic models document the API; the engine builds
:class:`tastemaker.engine.served.ServedList` (plain slots) and writes the same JSON with
orjson, so no model is built or validated per item.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tastemaker.experiments.definition import Experiment


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
    variant: str = Field(
        description="control (the active version), canary (a version an experiment chose), "
        "or fallback (no model promoted)"
    )
    cold_start: bool = Field(description="the user is unknown: a popularity-based list")
    items: list[RecommendedItem]
    experiments: dict[str, str] | None = Field(
        default=None, description="experiment key -> variant served (absent outside experiments)"
    )


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


class TimelineEntry(BaseModel):
    """One recent item event of a profile."""

    item_id: str
    type: str = Field(description="event type: view, click, add_to_cart, purchase, ...")
    timestamp: int = Field(description="epoch milliseconds")
    value: float | None = Field(default=None, description="dwell seconds or purchase amount")


class ProfileTraits(BaseModel):
    """Behavioural traits derived from the timeline (times in epoch ms, dwell in seconds)."""

    model_config = ConfigDict(extra="allow")

    recency_days: float | None = None
    frequency: int = 0
    monetary: float = 0.0
    sessions: int = 0
    first_seen: int | None = None
    last_seen: int | None = None
    dwell_count: int = 0
    dwell_mean: float | None = None
    dwell_max: float | None = None
    dwell_total: float = 0.0


class ProfileResponse(BaseModel):
    """A user's real-time profile (``user_id`` is the pseudonymized id)."""

    user_id: str = Field(description="pseudonymized user id (anon:<pseudonym> for a visitor)")
    segments: dict[str, float] = Field(description="segment name -> score, for member segments")
    rules_version: int = Field(description="version of the segment rules that decided")
    traits: ProfileTraits
    shares: dict[str, dict[str, float]] = Field(description="attribute -> value -> share")
    counts: dict[str, dict[str, int]] = Field(description="attribute -> value -> interactions")
    affinities: dict[str, dict[str, float]] = Field(description="attribute -> value -> weight")
    timeline: list[TimelineEntry] = Field(description="recent item events, oldest first")
    merged_ids: list[str] = Field(description="anonymous profiles stitched into this one")


class SegmentsResponse(BaseModel):
    """The segments a user belongs to."""

    segments: dict[str, float] = Field(description="segment name -> score")
    rules_version: int
    last_seen: int | None = Field(description="epoch milliseconds of the last event")


class FeaturedResponse(BaseModel):
    """The featured listing and the rule that chose it."""

    item: dict[str, Any] | None = Field(
        description="the catalog row of the featured item; null when no item fits the filters"
    )
    rule: str = Field(description="segments:<names>, fallback:random, fallback:unavailable, none")
    reason: str
    personalized: bool
    segments: dict[str, float] = Field(description="the user's segments that were matched")
    candidates: int = Field(description="items that satisfied the filters")
    filters: str = Field(description="the filters applied")
    impression_id: str | None = Field(
        default=None, description="event id of the logged impression (absent without an item)"
    )
    experiments: dict[str, str] | None = Field(
        default=None, description="experiment key -> variant served (absent outside experiments)"
    )


class ExperimentList(BaseModel):
    """Every valid experiment definition, by key."""

    experiments: list[Experiment]
    invalid: dict[str, str] = Field(
        default_factory=dict, description="key -> why its file was left out"
    )


class PropensityFactor(BaseModel):
    """One feature's push on a probability (log-odds units, before calibration)."""

    feature: str
    value: float
    contribution: float
    description: str


class PropensityItem(BaseModel):
    """The purchase probability of one item and the features that pushed it most."""

    item_id: str
    probability: float = Field(ge=0, le=1)
    factors: list[PropensityFactor]


class PropensityResponse(BaseModel):
    """Purchase probabilities of a user, highest first."""

    user_id: str = Field(description="the raw user id as sent")
    model_version: str
    known_user: bool
    items: list[PropensityItem]


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
    401: "missing, unknown or revoked API key (X-API-Key or Authorization: Bearer)",
    403: "the API key lacks the scope this route needs",
    404: "unknown resource",
    413: "request body larger than ingest.max_body_bytes",
    422: "invalid parameters or body (the message names the field and the limit)",
    429: "the API key is over its rate limit: retry after the Retry-After header's seconds",
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
        if code in (429, 503):
            entry["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
        out[code] = entry
    return out
