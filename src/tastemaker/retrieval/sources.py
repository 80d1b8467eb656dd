"""Candidate sources: each turns what we know about a request into a scored `ItemList`.

Every source is a small callable with a typed config; :func:`merge_candidates` joins
their lists. Sources read only in-memory state (:class:`RetrievalState`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.retrieval.ann import AnnIndex
from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.retrieval.itemtable import ItemTable


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Segment:
    """A user segment as an attribute value: ``fuel_type = electric`` with a weight."""

    column: str
    code: int
    label: str
    weight: float


@dataclass
class CandidateQuery:
    """What the sources know about one request.

    Attributes:
        user_vector: the user's ALS factor vector (folded in from history), if any.
        recent_items: item indices the user engaged with, most recent first.
        segments: the user's strongest attribute values, strongest first.
    """

    user_vector: np.ndarray | None = None
    recent_items: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    segments: list[Segment] = field(default_factory=list)


@dataclass
class RetrievalState:
    """In-memory state shared by the sources (built once per model version).

    Attributes:
        table: item attributes aligned to the serving item indices.
        popularity: float32 popularity per item (0 for catalog-only items).
        ann: inner-product index over ``item_factors`` (None without factors).
        item_factors: ALS item vectors of the model's items.
        neighbors: CSR item x item similarity (top neighbours per row) over model items.
        by_segment: per categorical column, per code, item indices by popularity.
        new_items: indices of new items, newest first.
        new_codes: segment-column codes of ``new_items`` (same order).
    """

    table: ItemTable
    popularity: np.ndarray
    ann: AnnIndex | None = None
    item_factors: np.ndarray | None = None
    neighbors: sp.csr_matrix | None = None
    by_segment: dict[str, list[np.ndarray]] = field(default_factory=dict)
    new_items: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    new_codes: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        table: ItemTable,
        popularity: np.ndarray,
        *,
        ann: AnnIndex | None = None,
        item_factors: np.ndarray | None = None,
        neighbors: sp.csr_matrix | None = None,
        segment_columns: list[str] | tuple[str, ...] = (),
        per_segment: int = 200,
        new_item_days: float = 14.0,
    ) -> RetrievalState:
        """Precompute popularity rankings per segment value and the list of new items."""
        pop = np.zeros(len(table), np.float32)
        pop[: len(popularity)] = popularity[: len(table)]
        ok = table.in_catalog
        order = np.lexsort((np.arange(len(pop)), -pop))
        order = order[ok[order]]
        by_segment: dict[str, list[np.ndarray]] = {}
        for column in segment_columns:
            cat = table.categorical.get(column)
            if cat is None:
                continue
            codes = cat.codes[order]
            by_segment[column] = [order[codes == c][:per_segment] for c in range(len(cat.labels))]
        new = np.flatnonzero(table.is_new(new_item_days) & ok)
        new = new[np.argsort(-table.created_ms[new], kind="stable")]
        new_codes = {c: table.categorical[c].codes[new] for c in by_segment}
        return cls(table, pop, ann, item_factors, neighbors, by_segment, new, new_codes)


class AnnSourceConfig(_Config):
    """ANN search over ALS item factors with the user's vector."""

    n: int = Field(default=200, ge=0)


class AnnSource:
    """Items with the largest inner product with the user's factor vector."""

    def __init__(self, config: AnnSourceConfig | None = None) -> None:
        self.config = config or AnnSourceConfig()

    def __call__(self, state: RetrievalState, query: CandidateQuery) -> ItemList:
        """Search the index; empty without a user vector or index."""
        if state.ann is None or query.user_vector is None or self.config.n == 0:
            return ItemList.empty()
        idx, scores = state.ann.search(query.user_vector, self.config.n)
        keep = idx[0] >= 0
        return ItemList.of(idx[0][keep], scores[0][keep], Source.ANN)


class NeighborSourceConfig(_Config):
    """Item-kNN neighbours of the user's most recent items."""

    recent: int = Field(default=5, ge=0, description="most recent items used")
    per_item: int = Field(default=50, ge=1)
    decay: float = Field(default=0.8, gt=0, le=1, description="weight of each older item")


class NeighborSource:
    """Neighbours of recent items; the anchor is the recent item that brought each one."""

    def __init__(self, config: NeighborSourceConfig | None = None) -> None:
        self.config = config or NeighborSourceConfig()

    def __call__(self, state: RetrievalState, query: CandidateQuery) -> ItemList:
        """Top neighbours of each recent item, scored ``similarity x decay**age``."""
        sim = state.neighbors
        if sim is None:
            return ItemList.empty()
        recent = query.recent_items[query.recent_items < sim.shape[0]][: self.config.recent]
        if len(recent) == 0:
            return ItemList.empty()
        starts = sim.indptr[recent].astype(np.int64)
        lens = sim.indptr[recent + 1] - starts
        first = np.cumsum(lens) - lens
        at = np.repeat(starts - first, lens) + np.arange(int(lens.sum()))
        age = np.repeat(np.arange(len(recent)), lens)
        order = np.lexsort((-sim.data[at], age))  # per recent item, best first (stable)
        keep = order[np.arange(len(order)) - first[age[order]] < self.config.per_item]
        at, age = at[keep], age[keep]
        decay = (self.config.decay ** np.arange(len(recent))).astype(np.float32)
        score = sim.data[at] * decay[age]
        return ItemList.of(sim.indices[at], score, Source.RECENT_NEIGHBORS, recent[age])


class SegmentSourceConfig(_Config):
    """Popular items within the user's strongest segments."""

    segments: int = Field(default=3, ge=0)
    per_segment: int = Field(default=50, ge=1)


class SegmentPopularSource:
    """Popular items per segment value; the anchor is the segment's position in the query."""

    def __init__(self, config: SegmentSourceConfig | None = None) -> None:
        self.config = config or SegmentSourceConfig()

    def __call__(self, state: RetrievalState, query: CandidateQuery) -> ItemList:
        """Top items of each of the user's strongest segments, scored popularity x weight."""
        parts = []
        for pos, seg in enumerate(query.segments[: self.config.segments]):
            ranked = state.by_segment.get(seg.column)
            if ranked is None or not 0 <= seg.code < len(ranked):
                continue
            items = ranked[seg.code][: self.config.per_segment]
            score = state.popularity[items] * np.float32(seg.weight)
            parts.append(ItemList.of(items, score, Source.SEGMENT_POPULAR, pos))
        return ItemList.concat(parts)


class NewItemSourceConfig(_Config):
    """New items ranked by how well their attributes match the user's segments."""

    n: int = Field(default=50, ge=0)
    scan: int = Field(default=2000, ge=1, description="newest items considered")


class NewItemSource:
    """Content neighbours for new items: attribute match with the user's segments."""

    def __init__(self, config: NewItemSourceConfig | None = None) -> None:
        self.config = config or NewItemSourceConfig()
        self._base: tuple[int, np.ndarray] | None = None

    def __call__(self, state: RetrievalState, query: CandidateQuery) -> ItemList:
        """Newest items scored by segment match (newest first when nothing matches)."""
        pool = state.new_items[: self.config.scan]
        if len(pool) == 0 or self.config.n == 0:
            return ItemList.empty()
        base = self._base
        if base is None or base[0] != id(state) or len(base[1]) != len(pool):  # once per state
            base = self._base = (id(state), np.linspace(0.1, 0.0, len(pool), dtype=np.float32))
        score = base[1].copy()  # newer first when nothing matches
        for seg in query.segments:
            codes = state.new_codes.get(seg.column)
            if codes is not None:
                score[codes[: len(pool)] == seg.code] += np.float32(seg.weight)
        n = min(self.config.n, len(pool))
        top = np.argpartition(-score, n - 1)[:n] if n < len(pool) else np.arange(len(pool))
        top = top[np.lexsort((top, -score[top]))]  # best first, ties: newer first
        return ItemList.of(pool[top], score[top], Source.NEW_CONTENT)


class PopularSourceConfig(_Config):
    """Globally popular items (the cold-start list and a filler for everyone)."""

    n: int = Field(default=100, ge=0)


class PopularSource:
    """The most popular catalog items."""

    def __init__(self, config: PopularSourceConfig | None = None) -> None:
        self.config = config or PopularSourceConfig()
        self._cache: tuple[int, np.ndarray] | None = None

    def __call__(self, state: RetrievalState, query: CandidateQuery) -> ItemList:
        """Top ``n`` items by popularity among catalog items."""
        if self._cache is None or self._cache[0] != id(state):
            pop = np.where(state.table.in_catalog, state.popularity, -np.inf)
            n = min(self.config.n, len(pop))
            top = np.argpartition(-pop, n - 1)[:n] if 0 < n < len(pop) else np.arange(len(pop))
            top = top[np.lexsort((top, -pop[top]))]
            self._cache = (id(state), top[np.isfinite(pop[top])][:n])
        top = self._cache[1]
        return ItemList.of(top, state.popularity[top], Source.POPULAR)
