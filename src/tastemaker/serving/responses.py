"""Response and request bodies of the recommendation endpoints (documented in OpenAPI).

The pydantic models document the API; the engine builds
:class:`tastemaker.engine.served.ServedList` (plain slots) and writes the same JSON with
orjson, so no model is built or validated per item.
"""

from __future__ import annotations

from typing import Literal

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
