"""Hard filters: explicit request filters, out of stock, purchased, not interested."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from tastemaker.rerank.context import RerankContext
from tastemaker.retrieval.itemlist import ItemList


class HardFilterConfig(BaseModel):
    """Which exclusions apply (request filters always do)."""

    model_config = ConfigDict(extra="forbid")

    out_of_stock: bool = True
    purchased: bool = True
    not_interested: bool = True
    seen: bool = True


def blocked_mask(config: HardFilterConfig, ctx: RerankContext) -> np.ndarray:
    """Boolean mask over all items that must never be returned for this request."""
    table = ctx.table
    blocked = ~table.in_catalog.copy()
    if ctx.allowed is not None:
        blocked |= ~ctx.allowed
    if config.out_of_stock:
        blocked |= ~table.in_stock
    for flag, items in (
        (config.purchased, ctx.purchased),
        (config.not_interested, ctx.not_interested),
        (config.seen, ctx.seen),
    ):
        if flag and len(items):
            blocked[items[(items >= 0) & (items < len(blocked))]] = True
    return blocked


class HardFilter:
    """Drops every candidate the request or the user's history rules out."""

    def __init__(self, config: HardFilterConfig | None = None) -> None:
        self.config = config or HardFilterConfig()

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """The candidates that are allowed, in the same order, each once."""
        blocked = blocked_mask(self.config, ctx)
        ctx.blocked = blocked
        ok = (items.index >= 0) & (items.index < len(blocked))
        ok[ok] = ~blocked[items.index[ok]]
        return items.take(ok).unique()
