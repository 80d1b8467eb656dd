"""Candidate sources on a tiny catalog with known answers."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tastemaker.retrieval.ann import AnnIndex
from tastemaker.retrieval.itemlist import Source
from tastemaker.retrieval.itemtable import ItemTable
from tastemaker.retrieval.sources import (
    AnnSource,
    CandidateQuery,
    NeighborSource,
    NewItemSource,
    PopularSource,
    RetrievalState,
    Segment,
    SegmentPopularSource,
)


def _state(table: ItemTable) -> RetrievalState:
    factors = np.eye(5, 3, dtype=np.float32)
    sim = sp.csr_matrix(
        np.array(
            [
                [0, 0.9, 0.1, 0, 0],
                [0.9, 0, 0.5, 0, 0],
                [0.1, 0.5, 0, 0, 0],
                [0, 0, 0, 0, 0.7],
                [0, 0, 0, 0.7, 0],
            ],
            np.float32,
        )
    )
    pop = np.array([0.2, 1.0, 0.5, 0.9, 0.1], np.float32)
    return RetrievalState.build(
        table,
        pop,
        ann=AnnIndex().fit(factors),
        item_factors=factors,
        neighbors=sim,
        segment_columns=["fuel_type", "body_type"],
        new_item_days=14,
    )


def test_ann_source_uses_the_user_vector(table: ItemTable) -> None:
    state = _state(table)
    got = AnnSource()(state, CandidateQuery(user_vector=np.array([0, 1, 0], np.float32)))
    assert got.index[0] == 1 and (got.source == Source.ANN).all()
    assert len(AnnSource()(state, CandidateQuery())) == 0


def test_neighbors_of_recent_items_carry_their_anchor(table: ItemTable) -> None:
    got = NeighborSource()(_state(table), CandidateQuery(recent_items=np.array([0, 3])))
    pairs = dict(zip(got.index.tolist(), got.anchor.tolist(), strict=True))
    assert pairs[1] == 0 and pairs[4] == 3
    older = got.score[got.index == 4][0]
    assert older == np.float32(0.7 * 0.8)  # the second recent item is decayed


def test_segment_popularity_ranks_within_the_segment(table: ItemTable) -> None:
    state = _state(table)
    code = table.categorical["fuel_type"].code_of("electric")
    seg = Segment("fuel_type", code, "electric", 1.0)
    got = SegmentPopularSource()(state, CandidateQuery(segments=[seg]))
    assert got.index.tolist()[:3] == [1, 2, 0]  # electric, by popularity
    assert 3 not in got.index.tolist() and (got.anchor == 0).all()


def test_new_items_and_popular(table: ItemTable) -> None:
    state = _state(table)
    assert state.new_items.tolist() == [5]
    assert NewItemSource()(state, CandidateQuery()).index.tolist() == [5]
    assert PopularSource()(state, CandidateQuery()).index.tolist()[:2] == [1, 3]
