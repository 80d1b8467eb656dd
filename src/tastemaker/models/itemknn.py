"""Item-kNN: cosine similarity with shrinkage over the user-item matrix, top-k neighbours."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.models._sparse import binarize, dense, prune_rows
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions
from tastemaker.models.rows import Row
from tastemaker.models.scores import zscores

_PRIOR = 1e-6  # weight of the popularity prior added to every score


def _pick(items: np.ndarray, sums: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``sums`` at ``candidates`` (0 where a candidate is not among the sorted ``items``)."""
    if len(items) == 0:
        return np.zeros(len(candidates))
    at = np.minimum(np.searchsorted(items, candidates), len(items) - 1)
    return np.where(items[at] == candidates, sums[at], 0.0)


class _Fast(NamedTuple):
    """What candidate scoring reads, derived from ``weights_`` and ``prior_``."""

    weights: sp.csr_matrix
    prior: np.ndarray
    starts: np.ndarray  # int64 start of each weight row
    lens: np.ndarray  # int64 length of each weight row
    bias: np.ndarray  # float64 _PRIOR x prior: the score no neighbour adds to
    bias_mean: float
    bias_var: float

    @classmethod
    def of(cls, weights: sp.csr_matrix, prior: np.ndarray) -> _Fast:
        """Derived from the model's weight matrix and popularity prior."""
        indptr = weights.indptr.astype(np.int64)
        bias = _PRIOR * prior.astype(np.float64)
        mean, var = (float(bias.mean()), float(bias.var())) if len(bias) else (0.0, 0.0)
        return cls(weights, prior, indptr[:-1], np.diff(indptr), bias, mean, var)


# Defaults from a joint grid over neighbours x shrinkage on MovieLens-100k (per-user random
# 80/10/10, seeds 0-2; docs/benchmarks.md "Peer comparison"): k=200 leads at every shrinkage;
# on validation shrinkage 0..50 lie within 0.0015 NDCG@10 of each other (less than the seed
# noise), on test 0 is best (+0.003 over 50), as RecBole's own grid finds; so plain cosine.
# Shrinkage is still tuned jointly with k by `tastemaker tune` (record:
# src/tastemaker/evaluation/tuning_runs/ml-100k-itemknn.json).


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
    _fast_cache: _Fast | None = None

    def __init__(self, neighbors: int = 200, shrinkage: float = 0.0, binary: bool = True) -> None:
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
        return dense(history @ self.weights_) + _PRIOR * self.prior_

    def _history_sums(self, row: Row, fast: _Fast) -> tuple[np.ndarray, np.ndarray]:
        """``row @ weights_`` as sorted item indices and float64 sums (the rest is zero).

        Reads only the weight rows of the history items (a few hundred entries), not a
        dense row over the catalog.
        """
        starts, lens = fast.starts[row.cols], fast.lens[row.cols]
        total = int(lens.sum())
        if total == 0:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
        w = fast.weights
        weights = w.data[offsets] * np.repeat(row.vals.astype(np.float64), lens)
        items, inv = np.unique(w.indices[offsets], return_inverse=True)
        return items, np.bincount(inv, weights=weights, minlength=len(items))

    def _score_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        fast = self._fast()
        items, sums = self._history_sums(row, fast)
        raw = _pick(items, sums, candidates)
        raw += fast.bias[candidates]
        return raw

    def _standardized_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        # the full row is sums (on a few items) + bias (on all): its moments from those of
        # the sums, of the bias, and their covariance
        fast = self._fast()
        items, sums = self._history_sums(row, fast)
        n = len(fast.bias)
        s_mean = float(sums.sum()) / n
        cov = float(sums @ fast.bias[items]) / n - s_mean * fast.bias_mean
        var = float(sums @ sums) / n - s_mean**2 + 2.0 * cov + fast.bias_var
        raw = _pick(items, sums, candidates)
        raw += fast.bias[candidates]
        return zscores(raw, s_mean + fast.bias_mean, float(np.sqrt(max(var, 0.0))))

    def _fast(self) -> _Fast:
        """The arrays of candidate scoring, derived once per set of learned arrays."""
        fast = self._fast_cache
        if fast is None or fast.weights is not self.weights_ or fast.prior is not self.prior_:
            fast = _Fast.of(self.weights_, self.prior_)
            self._fast_cache = fast
        return fast

    def warm_up(self) -> None:
        """Derive the arrays of candidate scoring now."""
        self._check()
        self._fast()

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
