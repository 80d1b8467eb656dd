"""The recommendation pipeline for one request, composed in one visible place.

    profile -> candidates -> score -> rerank -> response (+ impressions, by the runtime)

1. **profile**: the user's history at training time plus the events since (the profile
   service's timeline), so what the user did a moment ago counts at once;
2. **candidates**: ANN over ALS factors, item-kNN neighbours of recent items, popularity
   in the user's segments, new items matching them, global popularity; merged;
3. **score**: the promoted scorer on the candidates, from the same history;
4. **rerank**: hard filters, business rules, diversity, exploration (``rerank.chain``);
5. **response**: ids, scores and a reason per item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from tastemaker.registry.artifacts import ServingArtifacts
from tastemaker.rerank.context import RerankContext
from tastemaker.rerank.filters import Filters
from tastemaker.retrieval.itemlist import ItemList, Source
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
from tastemaker.serving.profile import user_signals
from tastemaker.serving.responses import RecommendationResponse, RecommendedItem
from tastemaker.serving.settings import PipelineConfig
from tastemaker.serving.version import SEGMENT_COLUMNS, LoadedVersion
from tastemaker.workspace import Workspace

_POSITIVE = ("view", "click", "add_to_cart", "purchase", "rating")
_SOURCE_NAMES = {s.value: s.name.lower() for s in Source}
Timer = Callable[[str, float], None]


@dataclass
class Request:
    """One recommendation request (user id raw, as the shop knows it)."""

    user_id: str
    user_key: str
    k: int
    filters: Filters = field(default_factory=Filters)
    context: str | None = None
    request_id: str = ""


@dataclass
class UserState:
    """The profile step's output: history over model items and what to exclude."""

    history: sp.csr_matrix
    recent: np.ndarray
    purchased: np.ndarray
    not_interested: np.ndarray
    seen: np.ndarray
    query: CandidateQuery
    cold: bool
    affinity: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class RecommendationPipeline:
    """Runs a request through the stages against one loaded version.

    Args:
        ws: the workspace (profiles, event weights).
        config: pipeline settings.
        timer: receives ``(stage, seconds)`` for metrics.
    """

    def __init__(self, ws: Workspace, config: PipelineConfig, timer: Timer | None = None) -> None:
        self.ws = ws
        self.config = config
        self.timer = timer or (lambda _stage, _seconds: None)
        c = config.candidates
        self.sources: list[Callable[[RetrievalState, CandidateQuery], ItemList]] = [
            NeighborSource(c.neighbors),
            AnnSource(c.ann),
            SegmentPopularSource(c.segments),
            NewItemSource(c.new_items),
            PopularSource(c.popular),
        ]

    def run(self, v: LoadedVersion, req: Request, variant: str) -> RecommendationResponse:
        """The whole pipeline: the stages in order."""
        user = self.profile(v, req.user_key)
        candidates = self.candidates(v, user)
        scored = self.score(v, user, candidates)
        ranked = self.rerank(v, user, req, scored)
        return self.respond(v, user, req, ranked, variant)

    # --- 1. profile -------------------------------------------------------------------
    def profile(self, v: LoadedVersion, user_key: str) -> UserState:
        """Training-time history of the user plus fresh events, over the version's items."""
        t0 = time.perf_counter()
        n_model, table = v.table.n_model, v.table
        since = int(time.time() * 1000 - self.config.recent_days * 86_400_000)
        sig = user_signals(self.ws, user_key, since)
        idx = table.lookup(sig.item_ids)
        types = np.asarray(sig.types, dtype=object)
        fresh = sig.timestamps > v.data_end_ms
        weights = self.ws.settings.event_weights
        w = np.asarray([weights.get(t, 0.0) for t in sig.types], np.float32)
        art = v.artifacts
        row = art.model.users_.index_of(user_key) if art is not None else -1
        cols, vals, purchased, negative = _training_rows(art, row)
        use = fresh & (idx >= 0) & (idx < n_model) & (w != 0)
        cols = np.concatenate([cols, idx[use]])
        vals = np.concatenate([vals, w[use] * np.float32(self.config.recent_boost)])
        history = _row_matrix(cols, vals, n_model)
        positive = np.isin(types, _POSITIVE) & (idx >= 0)
        recent = _unique_newest(idx[positive])
        if len(recent) == 0 and history.nnz:
            recent = history.indices[np.argsort(-history.data, kind="stable")][:5]
        purchased = np.concatenate([purchased, idx[(types == "purchase") & (idx >= 0)]])
        negative = np.concatenate([negative, idx[(types == "not_interested") & (idx >= 0)]])
        seen = np.union1d(history.indices, idx[positive]).astype(np.int64)
        segments = self._segments(v, sig.shares, history, recent)
        affinity = _affinity(v, sig.shares)
        vector = None
        if history.nnz and v.fold_in is not None:
            vector = v.fold_in.vector(history).astype(np.float32)
        query = CandidateQuery(vector, recent.astype(np.int64), segments)
        cold = history.nnz == 0 and len(recent) == 0
        self.timer("profile", time.perf_counter() - t0)
        return UserState(history, recent, purchased, negative, seen, query, cold, affinity)

    def _segments(
        self,
        v: LoadedVersion,
        shares: dict[str, dict[str, float]],
        history: sp.csr_matrix,
        recent: np.ndarray,
    ) -> list[Segment]:
        out: list[Segment] = []
        items = np.union1d(history.indices, recent).astype(np.int64)
        for column in SEGMENT_COLUMNS:
            cat = v.table.categorical.get(column)
            if cat is None:
                continue
            col_shares = shares.get(column) or _shares(cat.codes[items], cat.labels)
            if not col_shares:
                continue
            label, share = max(col_shares.items(), key=lambda kv: kv[1])
            code = cat.code_of(label)
            if share >= self.config.segment_min_share and code >= 0:
                out.append(Segment(column, code, cat.labels[code], float(share)))
        return sorted(out, key=lambda s: -s.weight)

    # --- 2. candidates ----------------------------------------------------------------
    def candidates(self, v: LoadedVersion, user: UserState) -> ItemList:
        """Every source's list, merged and cut to the configured size."""
        t0 = time.perf_counter()
        parts = []
        for source in self.sources:
            s0 = time.perf_counter()
            parts.append(source(v.retrieval, user.query))
            if isinstance(source, AnnSource):
                self.timer("ann", time.perf_counter() - s0)
        merged = merge_candidates(parts, self.config.candidates.limit)
        self.timer("candidates", time.perf_counter() - t0)
        return merged

    # --- 3. score ---------------------------------------------------------------------
    def score(self, v: LoadedVersion, user: UserState, items: ItemList) -> ItemList:
        """Model scores on the candidates, mapped to (0, 1]; catalog-only items get a prior."""
        t0 = time.perf_counter()
        idx = items.index
        in_model = idx < v.table.n_model
        raw = np.zeros(len(idx), np.float32)
        if v.scorer is not None and user.history.nnz and in_model.any():
            raw[in_model] = v.scorer.score(user.history, idx[in_model])
        else:
            raw[in_model] = v.retrieval.popularity[idx[in_model]]
        raw[~np.isfinite(raw)] = np.nan
        score = np.full(len(idx), 0.05, np.float32)
        known = in_model & ~np.isnan(raw)
        if known.any():
            lo, hi = float(np.min(raw[known])), float(np.max(raw[known]))
            span = hi - lo if hi > lo else 1.0
            score[known] = 0.05 + 0.95 * (raw[known] - lo) / span
        score[~in_model] = 0.05 + 0.5 * items.score[~in_model]
        if user.affinity and self.config.intent_weight > 0:
            match = np.mean([share[codes[idx]] for codes, share in user.affinity], axis=0)
            score *= np.exp(self.config.intent_weight * (match - 1.0)).astype(np.float32)
        self.timer("score", time.perf_counter() - t0)
        return items.with_score(score).sorted()

    # --- 4. rerank --------------------------------------------------------------------
    def rerank(self, v: LoadedVersion, user: UserState, req: Request, items: ItemList) -> ItemList:
        """Hard filters, business rules, diversity and exploration."""
        t0 = time.perf_counter()
        seed = self.config.seed
        if seed is None:
            seed = abs(hash(req.request_id)) % (2**32)
        ctx = RerankContext(
            k=req.k,
            table=v.table,
            allowed=req.filters.mask(v.table) if req.filters else None,
            purchased=user.purchased,
            not_interested=user.not_interested,
            seen=user.seen,
            item_vectors=v.unit_vectors,
            exposure=v.exposure,
            rng=np.random.default_rng(seed),
        )
        for _, stage in v.stages:
            items = stage(items, ctx)
        self.timer("rerank", time.perf_counter() - t0)
        return items

    # --- 5. response ------------------------------------------------------------------
    def respond(
        self, v: LoadedVersion, user: UserState, req: Request, items: ItemList, variant: str
    ) -> RecommendationResponse:
        """Ids, scores and reasons."""
        ids = v.table.vocab.decode(items.index)
        reasons = self._reasons(v, user, items)
        out = [
            RecommendedItem(
                item_id=str(i),
                score=round(float(s), 6),
                reason=r,
                source=_SOURCE_NAMES.get(int(src), "other"),
            )
            for i, s, r, src in zip(ids, items.score, reasons, items.source, strict=True)
        ]
        return RecommendationResponse(
            user_id=req.user_id,
            request_id=req.request_id,
            model_version=v.name,
            variant=variant,
            cold_start=user.cold,
            items=out,
        )

    def _reasons(self, v: LoadedVersion, user: UserState, items: ItemList) -> list[str]:
        anchors = items.anchor.copy()
        ann = (items.source == Source.ANN) & (anchors < 0)
        recent = user.recent[user.recent < v.table.n_model][:5]
        if ann.any() and len(recent) and v.unit_vectors is not None:
            inside = ann & (items.index < len(v.unit_vectors))
            sims = v.unit_vectors[items.index[inside]] @ v.unit_vectors[recent].T
            anchors[inside] = recent[np.argmax(sims, axis=1)]
        out = []
        segs = user.query.segments
        for src, anchor in zip(items.source.tolist(), anchors.tolist(), strict=True):
            out.append(_reason(v, src, anchor, segs))
        return out


def _reason(v: LoadedVersion, src: int, anchor: int, segs: list[Segment]) -> str:
    if src in (Source.RECENT_NEIGHBORS, Source.ANN) and anchor >= 0:
        return f"because you viewed {v.table.titles[anchor]}"
    if src == Source.SEGMENT_POPULAR and 0 <= anchor < len(segs):
        return f"popular in {segs[anchor].label}"
    return {
        Source.NEW_CONTENT: "new arrival",
        Source.EXPLORE: "something new to discover",
        Source.PINNED: "featured",
        Source.ANN: "picked for you",
    }.get(Source(src), "popular right now")


def _training_rows(
    art: ServingArtifacts | None, row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """History (columns, weights), purchases and not-interested items at training time."""
    empty = np.empty(0, np.int64)
    if art is None or row < 0:
        return empty, np.empty(0, np.float32), empty, empty

    def cols(m: sp.csr_matrix) -> np.ndarray:
        return np.asarray(m.indices[m.indptr[row] : m.indptr[row + 1]], np.int64)

    h = art.history
    vals = np.asarray(h.data[h.indptr[row] : h.indptr[row + 1]], np.float32)
    return cols(h), vals, cols(art.purchased), cols(art.negative)


def _row_matrix(cols: np.ndarray, vals: np.ndarray, n: int) -> sp.csr_matrix:
    """One CSR row with duplicate columns summed and non-positive entries dropped."""
    uniq, inv = np.unique(cols, return_inverse=True)
    data = np.bincount(inv, weights=vals, minlength=len(uniq)).astype(np.float32)
    keep = data > 0
    uniq, data = uniq[keep], data[keep]
    return sp.csr_matrix((data, uniq.astype(np.int32), np.asarray([0, len(uniq)])), shape=(1, n))


def _affinity(
    v: LoadedVersion, shares: dict[str, dict[str, float]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per attribute: item codes and the user's recent share of each code (0 for none)."""
    out = []
    for column in SEGMENT_COLUMNS:
        cat = v.table.categorical.get(column)
        col_shares = shares.get(column)
        if cat is None or not col_shares:
            continue
        by_code = np.zeros(len(cat.labels) + 1, np.float32)  # last slot: items without a value
        for label, share in col_shares.items():
            code = cat.code_of(label)
            if code >= 0:
                by_code[code] = share
        out.append((v.filled_codes(column), by_code))
    return out


def _unique_newest(idx: np.ndarray) -> np.ndarray:
    """Distinct indices, most recent (last) first."""
    rev = idx[::-1]
    _, first = np.unique(rev, return_index=True)
    return rev[np.sort(first)]


def _shares(codes: np.ndarray, labels: list[str]) -> dict[str, float]:
    codes = codes[codes >= 0]
    if len(codes) == 0:
        return {}
    counts = np.bincount(codes, minlength=len(labels)).astype(np.float64)
    top = int(counts.argmax())
    return {labels[top]: float(counts[top] / counts.sum())}
