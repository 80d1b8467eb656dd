"""Exploration: a share of slots given to little-exposed items by Thompson sampling."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.rerank.context import RerankContext
from tastemaker.rerank.rules import spread_positions
from tastemaker.retrieval.itemlist import ItemList, Source


class ExplorationConfig(BaseModel):
    """How many slots explore and which items count as little exposed."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(default=0.1, ge=0, le=1)
    max_impressions: float = Field(default=100, ge=0, description="below this: explorable")
    prior_clicks: float = Field(default=1.0, gt=0)
    prior_misses: float = Field(default=1.0, gt=0)
    pool: int = Field(default=200, ge=1, description="candidates after the exploited slots")


class Exploration:
    """Fills ``round(share x k)`` slots with candidates drawn by Thompson sampling.

    Each little-exposed candidate beyond the exploited slots draws a click rate from
    ``Beta(prior_clicks + clicks, prior_misses + impressions - clicks)``; the best
    draws take slots spread over the top-k and are marked as exploration.
    """

    def __init__(self, config: ExplorationConfig | None = None) -> None:
        self.config = config or ExplorationConfig()

    def slots(self, k: int) -> int:
        """Number of exploration slots in a list of ``k``."""
        return int(self.config.share * k + 0.5) if self.config.share > 0 else 0

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """The list with some later candidates moved into the top-k as exploration."""
        n = self.slots(ctx.k)
        if n == 0 or ctx.exposure is None or len(items) <= ctx.k - n:
            return items
        start = ctx.k - n
        rest = np.arange(start, min(len(items), start + self.config.pool))
        imp = ctx.exposure.impressions[items.index[rest]]
        clk = np.minimum(ctx.exposure.clicks[items.index[rest]], imp)
        low = imp < self.config.max_impressions
        rest, imp, clk = rest[low], imp[low], clk[low]
        if len(rest) == 0:
            return items
        theta = ctx.rng.beta(self.config.prior_clicks + clk, self.config.prior_misses + imp - clk)
        chosen = rest[np.argsort(-theta, kind="stable")[:n]]
        src = items.source.copy()
        src[chosen] = Source.EXPLORE
        marked = ItemList(items.index, items.score, src, items.anchor)
        return marked.move_to(chosen, spread_positions(len(chosen), ctx.k))
