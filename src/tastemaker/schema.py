"""The data model: event types and the shapes of events, items and users.

These pydantic models document the API bodies and file rows. Bulk data is validated
column-wise by :mod:`tastemaker.ingest.validate`, which enforces the same rules.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    """Kinds of user events tastemaker understands."""

    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    RATING = "rating"
    IMPRESSION = "impression"
    SEARCH = "search"
    NOT_INTERESTED = "not_interested"
    IDENTIFY = "identify"
    #: the platform served a user under an experiment variant (``properties``:
    #: ``experiment``, ``variant``); bookkeeping, never an interaction
    EXPOSURE = "exposure"


EVENT_TYPES: frozenset[str] = frozenset(t.value for t in EventType)
#: Event types a trained model can depend on (the feature schema hashes these): every
#: type but the platform's experiment bookkeeping, so adding it kept older versions valid.
MODEL_EVENT_TYPES: frozenset[str] = EVENT_TYPES - {"exposure"}
#: Event types that must name an item.
ITEM_EVENT_TYPES: frozenset[str] = frozenset(
    {"view", "click", "add_to_cart", "remove_from_cart", "purchase", "rating", "not_interested"}
)

#: Columns of the event log, in storage order. ``timestamp`` is epoch milliseconds (UTC).
EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "user_id",
    "anonymous_id",
    "type",
    "item_id",
    "value",
    "timestamp",
    "session_id",
    "context",
    "properties",
)

#: Item columns stored as their own fields; every other column goes into ``attributes``.
ITEM_CORE_COLUMNS: tuple[str, ...] = (
    "item_id",
    "category",
    "brand",
    "price",
    "title",
    "text",
    "in_stock",
    "created_at",
)

USER_CORE_COLUMNS: tuple[str, ...] = ("user_id", "consent")


class Event(BaseModel):
    """One user event as a shop sends it.

    ``value`` depends on the type: dwell seconds for view and click, the rating for
    rating, the amount for purchase. ``context`` holds device, page, position,
    experiment variant and request id; ``properties`` is free.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, description="Idempotency key: sent twice, stored once.")
    user_id: str | None = Field(default=None, description="Raw user id; pseudonymized on ingest.")
    anonymous_id: str | None = Field(default=None, description="Device / cookie id before login.")
    type: EventType
    item_id: str | None = None
    value: float | None = None
    timestamp: datetime
    session_id: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)


class Item(BaseModel):
    """One catalog item. Extra fields (fuel_type, body_type, ...) become typed attributes."""

    model_config = ConfigDict(extra="allow")

    item_id: str = Field(min_length=1)
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    title: str | None = None
    text: str | None = None
    in_stock: bool = True
    created_at: datetime | None = None


class User(BaseModel):
    """One user: raw id (pseudonymized on ingest), attributes and consent flag."""

    model_config = ConfigDict(extra="allow")

    user_id: str = Field(min_length=1)
    consent: bool = True


class Rejection(BaseModel):
    """Why one row of a batch or file was refused."""

    index: int = Field(description="0-based position in the batch, or the file's data row number.")
    field: str
    reason: str
    event_id: str | None = None


class IngestSummary(BaseModel):
    """What happened to a batch: accepted, duplicates and rejections with reasons."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = Field(default_factory=list)
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)

    def merge(self, other: IngestSummary, max_rejections: int = 1000) -> IngestSummary:
        """Return the sum of two summaries (rejection details are capped)."""
        reasons = dict(self.rejected_by_reason)
        for k, v in other.rejected_by_reason.items():
            reasons[k] = reasons.get(k, 0) + v
        return IngestSummary(
            received=self.received + other.received,
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            rejections=(self.rejections + other.rejections)[:max_rejections],
            rejected_by_reason=reasons,
        )
