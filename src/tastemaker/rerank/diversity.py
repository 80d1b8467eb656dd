"""Diversity: maximal marginal relevance (MMR) with a tunable lambda."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tastemaker.rerank.context import RerankContext
from tastemaker.retrieval.itemlist import ItemList
from tastemaker.retrieval.itemtable import ItemTable


class MMRConfig(BaseModel):
    """``lambda = 1`` keeps the relevance order; smaller values favour variety."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    lambda_: float = Field(default=0.8, ge=0, le=1, alias="lambda")
    pool: int = Field(default=100, ge=1, description="top candidates re-ordered")
    columns: list[str] = Field(
        default_factory=lambda: ["category", "brand", "body_type", "fuel_type"],
        description="attributes compared when items have no vectors",
    )


class MMR:
    """Greedy MMR: ``lambda x relevance - (1 - lambda) x max similarity to chosen items``."""

    def __init__(self, config: MMRConfig, table: ItemTable) -> None:
        self.config = config
        cols = [table.categorical[c].codes for c in config.columns if c in table.categorical]
        self.codes_ = np.stack(cols, axis=1) if cols else np.zeros((len(table), 0), np.int32)

    def _features(self, pool: np.ndarray, ctx: RerankContext) -> tuple[np.ndarray, bool]:
        vec = ctx.item_vectors
        if vec is not None and pool.max(initial=-1) < len(vec):
            return vec[pool], True
        return self.codes_[pool], False

    @staticmethod
    def _similarities(feats: np.ndarray, dense: bool) -> np.ndarray:
        """``[c, j]``: similarity of item ``j`` to item ``c`` of the pool (one matrix op)."""
        if dense:
            f = np.asarray(feats, np.float32)
            return f @ f.T
        if feats.shape[1] == 0:
            return np.zeros((len(feats), len(feats)), np.float32)
        same = (feats[None, :, :] == feats[:, None, :]) & (feats[None, :, :] >= 0)
        return same.mean(axis=2).astype(np.float32)

    def __call__(self, items: ItemList, ctx: RerankContext) -> ItemList:
        """The top ``pool`` items re-ordered by MMR (first ``k`` picked), then the rest."""
        lam = self.config.lambda_
        n = min(len(items), self.config.pool)
        if lam >= 1.0 or n <= 1:
            return items
        pool = items.index[:n]
        rel = items.score[:n].astype(np.float32)
        span = float(rel.max() - rel.min())
        rel = (rel - rel.min()) / span if span > 0 else np.ones_like(rel)
        feats, dense = self._features(pool, ctx)
        # value = lam x rel - (1 - lam) x max similarity to the chosen items; a chosen
        # item's gain becomes -inf, so three array operations per pick
        penalty = (1 - lam) * self._similarities(feats, dense)
        gain = (lam * rel).astype(np.float32)
        best = int(np.argmax(gain))  # nothing chosen yet: no penalty
        picked = [best]
        gain[best] = -np.inf
        worst = penalty[best].copy()
        value = np.empty_like(gain)
        for _ in range(1, min(ctx.k, n)):
            np.subtract(gain, worst, out=value)
            best = int(value.argmax())
            picked.append(best)
            gain[best] = -np.inf
            np.maximum(worst, penalty[best], out=worst)
        free = np.ones(n, bool)
        free[picked] = False
        order = np.concatenate([np.asarray(picked, np.int64), np.flatnonzero(free),
                                np.arange(n, len(items))])  # fmt: skip
        return items.take(order)
