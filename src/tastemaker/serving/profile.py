"""The profile step of a request: recent events and attribute shares of one user.

Reads the workspace's profile service (``Workspace.profiles``); when a workspace has
none, recent events come from the store. :func:`user_signals` is the one place to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from tastemaker.workspace import Workspace

#: Event types that carry an item and say something about the user's taste.
ITEM_TYPES = ("view", "click", "add_to_cart", "purchase", "rating", "not_interested")


@dataclass(frozen=True)
class UserSignals:
    """What the pipeline knows about a user before scoring.

    Attributes:
        item_ids, types, timestamps: recent item events, oldest first (parallel).
        shares: attribute -> value -> share of the user's recent interactions.
        segments: named segments the user belongs to (score per segment).
        found: a profile exists for the user.
    """

    item_ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    timestamps: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    segments: dict[str, float] = field(default_factory=dict)
    found: bool = False

    def __len__(self) -> int:
        return len(self.item_ids)


def user_signals(ws: Workspace, user_key: str, since_ms: int) -> UserSignals:
    """Recent item events (at or after ``since_ms``) and shares of pseudonymized ``user_key``."""
    profiles = getattr(ws, "profiles", None)
    if profiles is None:
        return _from_store(ws, user_key, since_ms)
    profile = profiles.get(user_key)
    if profile is None:
        return UserSignals()
    rows = [e for e in profile.timeline if e.timestamp >= since_ms and e.type in ITEM_TYPES]
    return UserSignals(
        [e.item_id for e in rows],
        [e.type for e in rows],
        np.asarray([e.timestamp for e in rows], np.int64),
        profile.shares,
        profile.segments,
        True,
    )


def _from_store(ws: Workspace, user_key: str, since_ms: int) -> UserSignals:
    start = datetime.fromtimestamp(since_ms / 1000, UTC)
    frame = ws.store.events(user_ids=[user_key], start=start, types=list(ITEM_TYPES))
    frame = frame.filter(frame["item_id"].is_not_null())
    return UserSignals(
        frame["item_id"].to_list(),
        frame["type"].to_list(),
        frame["timestamp"].dt.epoch("ms").to_numpy(),
        found=frame.height > 0,
    )
