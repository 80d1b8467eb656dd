"""Response and request bodies of the recommendation endpoints (documented in OpenAPI).

The pydantic models document the API; the hot path builds :class:`ServedList` (plain
slots) and writes the same JSON with orjson, so no model is built or validated per item.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import orjson
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


@dataclass(frozen=True, slots=True)
class ServedList:
    """A personalized list as the pipeline builds it; JSON of :class:`RecommendationResponse`."""

    user_id: str
    request_id: str
    model_version: str
    variant: str
    cold_start: bool
    item_ids: list[str]
    scores: list[float]
    reasons: list[str]
    sources: list[str]

    def with_request_id(self, request_id: str) -> ServedList:
        """The same list answering another request."""
        return replace(self, request_id=request_id)

    def to_json(self) -> bytes:
        """The response body (the layout of :class:`RecommendationResponse`)."""
        items = [
            {"item_id": i, "score": s, "reason": r, "source": src}
            for i, s, r, src in zip(
                self.item_ids, self.scores, self.reasons, self.sources, strict=True
            )
        ]
        return orjson.dumps(
            {
                "user_id": self.user_id,
                "request_id": self.request_id,
                "model_version": self.model_version,
                "variant": self.variant,
                "cold_start": self.cold_start,
                "items": items,
            }
        )

    def to_model(self) -> RecommendationResponse:
        """The documented response model (tests, clients in Python)."""
        return RecommendationResponse.model_validate_json(self.to_json())


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
