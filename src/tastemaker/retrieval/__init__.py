"""Retrieval: the ANN index over item factors, candidate sources and their merging."""

from tastemaker.retrieval.ann import AnnConfig, AnnIndex, recall_at_k
from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.retrieval.itemtable import Categorical, ItemTable
from tastemaker.retrieval.merge import merge_candidates
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

__all__ = [
    "AnnConfig",
    "AnnIndex",
    "AnnSource",
    "CandidateQuery",
    "Categorical",
    "ItemList",
    "ItemTable",
    "NeighborSource",
    "NewItemSource",
    "PopularSource",
    "RetrievalState",
    "Segment",
    "SegmentPopularSource",
    "Source",
    "merge_candidates",
    "recall_at_k",
]
