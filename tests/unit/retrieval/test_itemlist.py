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
