"""What every re-ranking stage may read about the request: the `RerankContext`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tastemaker.retrieval.itemtable import ItemTable


@dataclass
class Exposure:
    """Impressions and clicks per item (aligned to the item table), for exploration."""

    impressions: np.ndarray
    clicks: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Exposure:
        """No exposure recorded yet."""
        return cls(np.zeros(n, np.float64), np.zeros(n, np.float64))


@dataclass
class RerankContext:
    """Per-request inputs of the re-ranking stages.

    Attributes:
        k: length of the list returned.
        table: item attributes.
        allowed: boolean mask over items that pass the request's explicit filters.
        purchased: item indices the user bought.
        not_interested: item indices the user asked not to see.
        seen: item indices the user already engaged with (excluded when configured).
        item_vectors: unit-norm item vectors for diversity (None: use attributes).
        exposure: impressions / clicks per item for exploration.
        rng: random generator of this request (seeded for reproducibility).
        blocked: mask of items never to return, set by the hard-filter stage; stages that
            bring in items (pins, exploration) respect it.
    """

    k: int
    table: ItemTable
    allowed: np.ndarray | None = None
    purchased: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    not_interested: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    seen: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    item_vectors: np.ndarray | None = None
    exposure: Exposure | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    blocked: np.ndarray | None = None

    def is_blocked(self, index: np.ndarray) -> np.ndarray:
        """Which of ``index`` must not be returned (all allowed before hard filtering)."""
        if self.blocked is None:
            return np.zeros(len(index), bool)
        return self.blocked[index]
