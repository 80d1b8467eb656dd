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
    The result is ordered by merged score (ties: lower item index first) and cut to
    ``limit`` items.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        return ItemList.empty()
    index = np.concatenate([p.index for p in parts])
    score = np.concatenate([_rank_score(p) for p in parts])
    priority = np.repeat(np.arange(len(parts), dtype=np.int32), [len(p) for p in parts])
    order = np.lexsort((priority, -score, index))  # per item: best entry first
    ranked = index[order]
    first = np.ones(len(order), bool)
    first[1:] = ranked[1:] != ranked[:-1]
    keep = order[first]  # positions (in the joined arrays) of each item's best entry
    keep = keep[np.lexsort((index[keep], -score[keep]))][:limit]
    return ItemList(
        index[keep],
        score[keep],
        np.concatenate([p.source for p in parts])[keep],
        np.concatenate([p.anchor for p in parts])[keep],
    )
