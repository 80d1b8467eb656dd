"""The recommendation pipeline for one request, composed in one visible place.

    profile -> candidates -> score -> rerank -> response (+ impressions, by the runtime)

1. **profile**: the user's history at training time plus the events since (the profile
   service's timeline), so what the user did a moment ago counts at once;
2. **candidates**: ANN over ALS factors, item-kNN neighbours of recent items, popularity
   in the user's segments, new items matching them, global popularity; merged;
3. **score**: the promoted model's ``score_candidates`` on the candidates, from the same
   history (the model's own math, touching only the candidates);
4. **rerank**: hard filters, business rules, diversity, exploration (``rerank.chain``);
5. **response**: ids, scores and a reason per item.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tastemaker.engine.cache import ResultCache
from tastemaker.engine.config import PipelineConfig
from tastemaker.engine.profile import ProfileParams, UserState, build_user_state
from tastemaker.engine.served import ServedList
from tastemaker.engine.version import LoadedVersion
from tastemaker.errors import StoreUnavailableError
from tastemaker.profiles.signals import UserSignals
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
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)
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


class RecommendationPipeline:
    """Runs a request through the stages against one loaded version.

    Args:
        ws: the workspace (profiles, event weights).
        config: pipeline settings.
        timer: receives ``(stage, seconds)`` for metrics.
        users: cache per user of the stages that depend on the user alone (profile,
            candidates, scores), dropped when the user acts; None: off. Another request of
            the same user (another ``k``, filter or page) only re-ranks.
        segment_attributes: catalog attributes that act as user segments.
    """

    def __init__(
        self,
        ws: Workspace,
        config: PipelineConfig,
        timer: Timer | None = None,
        users: ResultCache | None = None,
        segment_attributes: tuple[str, ...] = (),
    ) -> None:
        self.ws = ws
        self.config = config
        self.timer = timer or (lambda _stage, _seconds: None)
        self.users = users
        self.params = ProfileParams(
            dict(ws.settings.event_weights),
            config.recent_boost,
            config.segment_min_share,
            segment_attributes,
        )
        c = config.candidates
        self.sources: list[Callable[[RetrievalState, CandidateQuery], ItemList]] = [
            NeighborSource(c.neighbors),
            AnnSource(c.ann),
            SegmentPopularSource(c.segments),
            NewItemSource(c.new_items),
            PopularSource(c.popular),
        ]

    def run(self, v: LoadedVersion, req: Request, variant: str) -> ServedList:
        """The whole pipeline: the stages in order."""
        user, scored = self.scored(v, req.user_key)
        ranked = self.rerank(v, user, req, scored)
        return self.respond(v, user, req, ranked, variant)

    def scored(self, v: LoadedVersion, user_key: str) -> tuple[UserState, ItemList]:
        """Stages 1-3 (profile, candidates, scores): what depends on the user alone.

        Cached per user and version until the user sends an event (or the cache's TTL).
        """
        cache = self.users
        if cache is not None:
            t0 = time.perf_counter()
            hit: tuple[UserState, ItemList] | None = cache.get(user_key, v.name)
            if hit is not None:
                self.timer("profile", time.perf_counter() - t0)
                return hit
        token = cache.token(user_key) if cache is not None else None
        user = self.profile(v, user_key)
        scored = self.score(v, user, self.candidates(v, user))
        if cache is not None:
            cache.put(user_key, v.name, (user, scored), token)
        return user, scored

    # --- 1. profile -------------------------------------------------------------------
    def signals(self, user_key: str) -> UserSignals:
        """The user's signals over the last ``recent_days`` from the profile reader.

        Raises:
            StoreUnavailableError: the profile cannot be read.
        """
        since = int(time.time() * 1000 - self.config.recent_days * 86_400_000)
        return self.ws.profiles.signals(user_key, since)

    def profile(self, v: LoadedVersion, user_key: str) -> UserState:
        """Training-time history of the user plus fresh events, over the version's items."""
        t0 = time.perf_counter()
        try:
            sig = self.signals(user_key)
        except StoreUnavailableError as exc:  # the non-personalized (cold-start) list
            log.warning("profile store unavailable, serving the cold-start list: %s", exc)
            sig = UserSignals()
        user = build_user_state(v, sig, user_key, self.params)
        self.timer("profile", time.perf_counter() - t0)
        return user

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
        if v.artifacts is not None and len(user.row.cols) and in_model.any():
            raw[in_model] = v.artifacts.model.score_candidates(user.row, idx[in_model])
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
    ) -> ServedList:
        """Ids, scores and reasons."""
        ids = v.table.vocab.ids[items.index].tolist()
        names = [_SOURCE_NAMES.get(src, "other") for src in items.source.tolist()]
        return ServedList(
            user_id=req.user_id,
            request_id=req.request_id,
            model_version=v.name,
            variant=variant,
            cold_start=user.cold,
            item_ids=ids,
            scores=np.round(items.score.astype(np.float64), 6).tolist(),
            reasons=self._reasons(v, user, items),
            sources=names,
            history=len(user.row.cols),
        )

    def _reasons(self, v: LoadedVersion, user: UserState, items: ItemList) -> list[str]:
        anchors = items.anchor.copy()
        ann = (items.source == Source.ANN) & (anchors < 0)
        recent = user.recent[user.recent < v.table.n_model][:5]
        if ann.any() and len(recent) and v.unit_vectors is not None:
            inside = ann & (items.index < len(v.unit_vectors))
            sims = v.unit_vectors[items.index[inside]] @ v.unit_vectors[recent].T
            anchors[inside] = recent[np.argmax(sims, axis=1)]
        segs = user.query.segments
        return [
            _reason(v, src, anchor, segs)
            for src, anchor in zip(items.source.tolist(), anchors.tolist(), strict=True)
        ]


_FIXED_REASONS = {
    int(Source.NEW_CONTENT): "new arrival",
    int(Source.EXPLORE): "something new to discover",
    int(Source.PINNED): "featured",
    int(Source.ANN): "picked for you",
}
_ANCHORED = (int(Source.RECENT_NEIGHBORS), int(Source.ANN))


def _reason(v: LoadedVersion, src: int, anchor: int, segs: list[Segment]) -> str:
    if src in _ANCHORED and anchor >= 0:
        return f"because you viewed {v.table.titles[anchor]}"
    if src == Source.SEGMENT_POPULAR and 0 <= anchor < len(segs):
        return f"popular in {segs[anchor].label}"
    return _FIXED_REASONS.get(src, "popular right now")
