"""Merging the lists of several candidate sources into one de-duplicated list."""

from __future__ import annotations

import numpy as np

from tastemaker.retrieval.itemlist import ItemList


def _rank_score(part: ItemList) -> np.ndarray:
    """1 for a source's best item down to ~0 for its last (sources' scales differ)."""
    n = len(part)
    order = np.lexsort((part.index, -part.score))
    rank = np.empty(n, np.float32)
    rank[order] = np.arange(n, dtype=np.float32)
    return np.float32(1.0) - rank / np.float32(max(n, 1))


def merge_candidates(parts: list[ItemList], limit: int | None = None) -> ItemList:
    """Union of the sources' items; each item keeps its best rank-normalized entry.

    Sources are listed by priority: on a tie the earlier source (and its anchor) wins.
    The result is ordered by merged score and cut to ``limit`` items.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return ItemList.empty()
    joined = ItemList.concat([p.with_score(_rank_score(p)) for p in parts])
    priority = np.concatenate([np.full(len(p), i, np.int32) for i, p in enumerate(parts)])
    order = np.lexsort((priority, -joined.score, joined.index))
    ranked = joined.take(order)
    first = np.ones(len(ranked), bool)
    first[1:] = ranked.index[1:] != ranked.index[:-1]
    merged = ranked.take(first).sorted()
    return merged if limit is None else merged.head(limit)
