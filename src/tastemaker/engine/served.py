"""What the engine serves: a recommendation list and an item-to-item list, as plain slots.

The HTTP layer documents their JSON with pydantic models (``serving/responses.py``); the
hot path writes the same JSON with orjson, so no model is built or validated per item.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import orjson


@dataclass(frozen=True, slots=True)
class ServedList:
    """A personalized list as the pipeline builds it; its JSON is the API response body."""

    user_id: str
    request_id: str
    model_version: str
    variant: str
    cold_start: bool
    item_ids: list[str]
    scores: list[float]
    reasons: list[str]
    sources: list[str]
    #: experiment key -> variant the list was served under
    experiments: dict[str, str] = field(default_factory=dict)
    #: items in the user's history the model scored from (drift monitoring; not in the JSON)
    history: int = 0

    def with_request_id(self, request_id: str) -> ServedList:
        """The same list answering another request."""
        return replace(self, request_id=request_id)

    def to_json(self) -> bytes:
        """The response body (the layout of ``RecommendationResponse`` in ``serving.responses``)."""
        items = [
            {"item_id": i, "score": s, "reason": r, "source": src}
            for i, s, r, src in zip(
                self.item_ids, self.scores, self.reasons, self.sources, strict=True
            )
        ]
        body: dict[str, object] = {
            "user_id": self.user_id,
            "request_id": self.request_id,
            "model_version": self.model_version,
            "variant": self.variant,
            "cold_start": self.cold_start,
            "items": items,
        }
        if self.experiments:
            body["experiments"] = self.experiments
        return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class RelatedList:
    """Items related to one item (similar, bought together), best first."""

    item_id: str
    model_version: str
    kind: str
    item_ids: list[str]
    scores: list[float]
    reason: str

    def items(self) -> list[dict[str, object]]:
        """One dict per item: id, score, reason, source (the response layout)."""
        return [
            {"item_id": i, "score": s, "reason": self.reason, "source": self.kind}
            for i, s in zip(self.item_ids, self.scores, strict=True)
        ]
