"""Frequently bought together: co-occurrence in baskets with lift / confidence and min support."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.models._sparse import binarize, dense, prune_rows
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions


def basket_matrix(inter: Interactions) -> sp.csr_matrix:
    """Binary baskets x items: a basket is a session (e.g. an invoice), else a user-day."""
    log = inter.log.filter(pl.col("weight") > 0)
    day = pl.col("timestamp").dt.truncate("1d").cast(pl.String).fill_null("")
    key = pl.coalesce(
        pl.format("s:{}", pl.col("session")), pl.format("u:{}:{}", pl.col("user"), day)
    )
    codes = log.select(key.cast(pl.Categorical).to_physical().alias("b"), "item")
    codes = codes.unique()
    b = codes["b"].to_numpy().astype(np.int64)
    n_b = int(b.max()) + 1 if len(b) else 0
    return sp.csr_matrix(
        (np.ones(len(b), np.float32), (b, codes["item"].to_numpy())), shape=(n_b, inter.n_items)
    )


@register
class FrequentlyBoughtTogetherRecommender(Recommender):
    """Items that co-occur in baskets with what is in the user's basket or history.

    ``confidence(i -> j) = n_ij / n_i``; ``lift(i, j) = n_ij N / (n_i n_j)``; pairs seen in
    fewer than ``min_support`` baskets are dropped. Serving passes the current basket to
    ``recommend_from_history``; ``recommend`` uses the training history.

    Args:
        min_support: minimum number of baskets holding both items.
        measure: ``confidence`` or ``lift``.
        neighbors: associations kept per item.
    """

    name = "fbt"

    def __init__(
        self,
        min_support: int = 2,
        measure: Literal["confidence", "lift"] = "confidence",
        neighbors: int = 200,
    ) -> None:
        self.min_support = min_support
        self.measure = measure
        self.neighbors = neighbors

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        baskets = basket_matrix(interactions)
        counts = np.asarray(baskets.sum(axis=0)).ravel()
        co = sp.csr_matrix(baskets.T @ baskets)
        co.setdiag(0)
        co.data[co.data < self.min_support] = 0
        co.eliminate_zeros()
        coo = co.tocoo()
        if self.measure == "lift":
            value = coo.data * baskets.shape[0] / (counts[coo.row] * counts[coo.col])
        else:
            value = coo.data / counts[coo.row]
        assoc = sp.csr_matrix((value.astype(np.float32), (coo.row, coo.col)), shape=co.shape)
        self.associations_ = prune_rows(assoc, self.neighbors)
        self.item_counts_ = counts.astype(np.float32)
        self.n_baskets_ = np.asarray([baskets.shape[0]], np.int64)
        self.train_ = interactions.matrix

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        scores = dense(binarize(history) @ self.associations_)
        # a tiny popularity prior orders items with no association
        return scores + 1e-6 * self.item_counts_ / max(float(self.item_counts_.max()), 1.0)

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        scores = dense(self.associations_[item_ids])
        scores[scores == 0] = -np.inf  # only items bought together are returned
        return scores

    def _state(self) -> State:
        return {
            "associations": self.associations_,
            "item_counts": self.item_counts_,
            "n_baskets": self.n_baskets_,
            "train": self.train_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.associations_ = state["associations"]
        self.item_counts_ = state["item_counts"]
        self.n_baskets_ = state["n_baskets"]
        self.train_ = state["train"]
