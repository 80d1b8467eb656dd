"""Item-kNN: cosine similarity with shrinkage over the user-item matrix, top-k neighbours."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.models._sparse import binarize, dense, prune_rows
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions

# Defaults chosen by `tastemaker tune --dataset ml-100k --model itemknn` on a validation split
# carved from the training part of seed 0 (record: src/tastemaker/evaluation/tuning_runs/
# ml-100k-itemknn.json).


@register
class ItemKNNRecommender(Recommender):
    """Scores an item by the summed similarity to the items in a user's history.

    ``sim(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrinkage)`` over item columns, computed
    with one sparse product; each item keeps its ``neighbors`` most similar items.

    Args:
        neighbors: neighbours kept per item.
        shrinkage: added to the cosine denominator; damps pairs seen by few users.
        binary: use 0/1 interactions instead of confidence weights.
    """

    name = "itemknn"

    def __init__(self, neighbors: int = 200, shrinkage: float = 50.0, binary: bool = True) -> None:
        self.neighbors = neighbors
        self.shrinkage = shrinkage
        self.binary = binary

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        x = binarize(interactions.matrix) if self.binary else interactions.matrix
        xt = sp.csc_matrix(x, dtype=np.float32)
        norms = np.sqrt(np.asarray(xt.multiply(xt).sum(axis=0)).ravel())
        co = sp.csr_matrix(xt.T @ xt, dtype=np.float32)
        co.setdiag(0)
        co.eliminate_zeros()
        coo = co.tocoo()
        denom = norms[coo.row] * norms[coo.col] + self.shrinkage
        sim = sp.csr_matrix(
            (coo.data / np.where(denom > 0, denom, 1.0), (coo.row, coo.col)), shape=co.shape
        )
        self.similarity_ = prune_rows(sim, self.neighbors).astype(np.float32)
        self.weights_ = sp.csr_matrix(self.similarity_.T)
        self.train_ = x
        pop = interactions.item_popularity()
        self.prior_ = (pop / max(float(pop.max(initial=0.0)), 1.0)).astype(np.float32)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        # a tiny popularity prior orders the items no neighbour points at
        return dense(history @ self.weights_) + 1e-6 * self.prior_

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        scores = dense(self.similarity_[item_ids])
        scores[scores == 0] = -np.inf  # only true neighbours are similar
        return scores

    def _state(self) -> State:
        return {"similarity": self.similarity_, "train": self.train_, "prior": self.prior_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.similarity_ = state["similarity"]
        self.weights_ = sp.csr_matrix(self.similarity_.T)
        self.train_ = state["train"]
        # artifacts written before the prior existed load without it
        self.prior_ = state.get("prior", np.zeros(self.similarity_.shape[0], np.float32))
