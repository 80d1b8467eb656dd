"""Hard filters: explicit request filters, out of stock, purchased, not interested."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from tastemaker.rerank.context import RerankContext
from tastemaker.retrieval.itemlist import ItemList
from tastemaker.retrieval.itemtable import ItemTable


class HardFilterConfig(BaseModel):
    """Which exclusions apply (request filters always do)."""

    model_config = ConfigDict(extra="forbid")

    out_of_stock: bool = True
    purchased: bool = True
    not_interested: bool = True
    seen: bool = True


def catalog_blocked(config: HardFilterConfig, table: ItemTable) -> np.ndarray:
    """Items blocked for every request: not in the catalog, or (if configured) out of stock."""
    blocked = ~table.in_catalog
    if config.out_of_stock:
        blocked |= ~table.in_stock
    return blocked


def blocked_mask(
    config: HardFilterConfig, ctx: RerankContext, base: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask over all items that must never be returned for this request.

    ``base`` is :func:`catalog_blocked` of ``ctx.table``, when the caller keeps it.
    """
    blocked = catalog_blocked(config, ctx.table) if base is None else base.copy()
    if ctx.allowed is not None:
        blocked |= ~ctx.allowed
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
        self._base: tuple[ItemTable, np.ndarray] | None = None

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """The candidates that are allowed, in the same order, each once."""
        base = self._base
        if base is None or base[0] is not ctx.table:  # once per catalog (item table)
            base = self._base = (ctx.table, catalog_blocked(self.config, ctx.table))
        blocked = blocked_mask(self.config, ctx, base[1])
        ctx.blocked = blocked
        ok = (items.index >= 0) & (items.index < len(blocked))
        ok[ok] = ~blocked[items.index[ok]]
        return items.take(ok).unique()
