"""What the rest of the platform may read of a profile: :class:`UserSignals`.

Nothing outside ``profiles/`` knows how a profile state is laid out; the engine asks
:meth:`ProfileReader.signals` for a user's recent item events, attribute shares and
segment memberships.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Event types that carry an item and say something about the user's taste.
ITEM_TYPES = ("view", "click", "add_to_cart", "purchase", "rating", "not_interested")


@dataclass(frozen=True)
class UserSignals:
    """A user's recent behaviour as the profile holds it.

    Attributes:
        item_ids, types, timestamps: recent item events (at or after the asked time),
            oldest first, as parallel sequences (timestamps in epoch ms).
        shares: attribute -> value -> share of the user's recent interactions.
        segments: segment name -> score under the active rules.
        found: a profile exists for the user.
        personal: False when the user opted out of personalization: nothing known of
            them (training-time history included) may shape what they are served.
    """

    item_ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    timestamps: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    segments: dict[str, float] = field(default_factory=dict)
    found: bool = False
    personal: bool = True

    def __len__(self) -> int:
        return len(self.item_ids)


class ProfileReader(Protocol):
    """Reads profiles for serving; ``ProfileService`` implements it."""

    def signals(self, user_key: str, since_ms: int) -> UserSignals:
        """Recent item events (at or after ``since_ms``), shares and segments of a user.

        Raises:
            StoreUnavailableError: the profile cannot be read.
        """
        ...
