"""ItemList operations and merging of candidate sources."""

from __future__ import annotations

import numpy as np

from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.retrieval.merge import merge_candidates


def test_sorted_head_take() -> None:
    items = ItemList.of([3, 1, 2], [0.1, 0.9, 0.5])
    assert items.sorted().index.tolist() == [1, 2, 3]
    assert items.sorted().head(2).index.tolist() == [1, 2]
    assert items.take(np.array([True, False, True])).index.tolist() == [3, 2]


def test_move_to_places_items_and_keeps_the_rest_in_order() -> None:
    items = ItemList.of([10, 11, 12, 13, 14])
    moved = items.move_to(np.array([4, 3]), np.array([0, 0]))
    assert moved.index.tolist()[:2] in ([14, 13], [13, 14])
    assert moved.index.tolist()[2:] == [10, 11, 12]
    assert sorted(moved.index.tolist()) == [10, 11, 12, 13, 14]
    end = items.move_to(np.array([0]), np.array([99]))
    assert end.index.tolist() == [11, 12, 13, 14, 10]


def test_merge_deduplicates_keeping_the_best_entry_and_source_priority() -> None:
    ann = ItemList.of([1, 2, 3], [9.0, 5.0, 1.0], Source.ANN)
    pop = ItemList.of([3, 4], [100.0, 50.0], Source.POPULAR)
    merged = merge_candidates([ann, pop])
    assert sorted(merged.index.tolist()) == [1, 2, 3, 4]
    src = dict(zip(merged.index.tolist(), merged.source.tolist(), strict=True))
    assert src[1] == Source.ANN and src[4] == Source.POPULAR
    assert src[3] == Source.POPULAR  # ranked first by popularity, last by ANN
    assert merged.index[0] in (1, 3)  # best of a source ranks first
    assert len(merge_candidates([ann, pop], limit=2)) == 2
    assert len(merge_candidates([])) == 0


def _merge_by_hand(parts: list[ItemList], limit: int | None) -> list[tuple[int, float, int, int]]:
    """The merge rule spelled out: best rank-normalized entry per item, earlier source on
    a tie; ordered by score, then item index."""
    best: dict[int, tuple[float, int, int, int]] = {}
    for priority, part in enumerate(parts):
        n = len(part)
        order = sorted(range(n), key=lambda i: (-part.score[i], part.index[i]))
        for rank, i in enumerate(order):
            score = float(np.float32(1.0) - np.float32(rank) / np.float32(n))
            item = int(part.index[i])
            entry = (score, priority, int(part.source[i]), int(part.anchor[i]))
            old = best.get(item)
            if old is None or (-entry[0], entry[1]) < (-old[0], old[1]):
                best[item] = entry
    rows = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [(item, e[0], e[2], e[3]) for item, e in rows]


def test_merge_matches_the_rule_on_random_lists() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        parts = []
        for s in range(int(rng.integers(0, 5))):
            n = int(rng.integers(0, 25))
            parts.append(ItemList.of(rng.integers(0, 40, n),
                                     rng.integers(0, 4, n).astype(np.float32),
                                     np.full(n, s, np.int8), rng.integers(-1, 5, n)))  # fmt: skip
        limit = [None, 4, 20][trial % 3]
        merged = merge_candidates(parts, limit)
        got = list(zip(merged.index.tolist(), merged.score.tolist(),
                       merged.source.tolist(), merged.anchor.tolist(), strict=True))  # fmt: skip
        assert got == _merge_by_hand(parts, limit)
