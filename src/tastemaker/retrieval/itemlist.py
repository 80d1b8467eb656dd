"""`ItemList`: the one currency passed between retrieval, scoring and re-ranking stages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Source(IntEnum):
    """Where a candidate came from; the re-ranker and the response reasons read it."""

    ANN = 0
    RECENT_NEIGHBORS = 1
    SEGMENT_POPULAR = 2
    NEW_CONTENT = 3
    POPULAR = 4
    PINNED = 5
    EXPLORE = 6


@dataclass(frozen=True, slots=True)
class ItemList:
    """Parallel arrays over candidate items, in list order.

    Attributes:
        index: dense item indices (int64) over the serving item table.
        score: float32 scores (higher is better).
        source: :class:`Source` codes (int8).
        anchor: what explains the item (int64): the recent item index for neighbours,
            the segment number for segment popularity, -1 otherwise.
    """

    index: np.ndarray
    score: np.ndarray
    source: np.ndarray
    anchor: np.ndarray

    @classmethod
    def of(
        cls,
        index: np.ndarray,
        score: np.ndarray | None = None,
        source: Source | np.ndarray = Source.ANN,
        anchor: int | np.ndarray = -1,
    ) -> ItemList:
        """Build a list, broadcasting a scalar source / anchor (scores default to 0)."""
        idx = np.asarray(index, dtype=np.int64).ravel()
        n = len(idx)
        sc = np.zeros(n, np.float32) if score is None else np.asarray(score, np.float32).ravel()
        if isinstance(source, np.ndarray):
            src = np.broadcast_to(source.astype(np.int8), (n,)).copy()
        else:
            src = np.full(n, int(source), np.int8)
        if isinstance(anchor, np.ndarray):
            anc = np.broadcast_to(anchor.astype(np.int64), (n,)).copy()
        else:
            anc = np.full(n, anchor, np.int64)
        return cls(idx, sc, src, anc)

    @classmethod
    def empty(cls) -> ItemList:
        """A list with no items."""
        return cls.of(np.empty(0, np.int64))

    @classmethod
    def concat(cls, parts: list[ItemList]) -> ItemList:
        """Join lists end to end (duplicates are kept; see :func:`merge_candidates`)."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.index for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.source for p in parts]),
            np.concatenate([p.anchor for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.index)

    def take(self, selector: np.ndarray) -> ItemList:
        """Items at the given positions (int array) or where a boolean mask is True."""
        return ItemList(
            self.index[selector], self.score[selector], self.source[selector], self.anchor[selector]
        )

    def with_score(self, score: np.ndarray) -> ItemList:
        """Same items with new scores."""
        return ItemList(self.index, np.asarray(score, np.float32), self.source, self.anchor)

    def sorted(self) -> ItemList:
        """Ordered by score, best first (ties: lower item index first)."""
        return self.take(np.lexsort((self.index, -self.score)))

    def unique(self) -> ItemList:
        """The list without repeated items (the first occurrence stays)."""
        _, first = np.unique(self.index, return_index=True)
        if len(first) == len(self):
            return self
        return self.take(np.sort(first))

    def head(self, k: int) -> ItemList:
        """The first ``k`` items."""
        return self.take(np.arange(min(k, len(self))))

    def move_to(self, positions: np.ndarray, targets: np.ndarray) -> ItemList:
        """Move the items at ``positions`` so they land at ``targets`` (order otherwise kept).

        ``targets`` are clipped to the list; the other items keep their relative order. A
        position given twice moves once (to its first target).
        """
        n = len(self)
        pos, first = np.unique(np.asarray(positions, np.int64), return_index=True)
        if len(pos) == 0 or n == 0:
            return self
        targets = np.asarray(targets, np.int64)[first]
        tgt = np.clip(np.asarray(targets, np.int64), 0, n - 1)
        others = np.ones(n, bool)
        others[pos] = False
        rest = np.flatnonzero(others)
        order = np.full(n, -1, np.int64)
        placed = np.zeros(n, bool)
        for p, t in sorted(zip(pos.tolist(), tgt.tolist(), strict=True), key=lambda x: x[1]):
            while t < n and placed[t]:
                t += 1
            if t >= n:
                t = int(np.flatnonzero(~placed)[0])
            order[t], placed[t] = p, True
        order[~placed] = rest
        return self.take(order)
