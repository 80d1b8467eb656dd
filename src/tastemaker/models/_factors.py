"""Shared behaviour of matrix-factorization models (ALS, BPR)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from tastemaker.models.base import Recommender, State

_FILTERED = -1e38  # implicit's topk marks filtered slots with -FLT_MAX


class FactorModel(Recommender):
    """A model scoring ``user_factors_ @ item_factors_.T`` (float32, exposed for ANN)."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def recommend(
        self,
        user_ids: np.ndarray,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items, computed by implicit's threaded dot-product top-k (no dense scores)."""
        self._check()
        users = self._valid_users(user_ids)
        return self._factor_top_k(self.user_factors_[users], k, exclude, candidates)

    def recommend_from_history(
        self,
        history: sp.csr_matrix,
        k: int,
        *,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for ad-hoc history rows (folded into user factors first)."""
        self._check()
        query = self.fold_in(self._as_history(history))
        return self._factor_top_k(query, k, exclude, candidates)

    def _factor_top_k(
        self,
        query: np.ndarray,
        k: int,
        exclude: sp.csr_matrix | None,
        candidates: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n, m = query.shape[0], self.n_items
        filter_items = None
        if candidates is not None:
            keep = np.zeros(m, dtype=bool)
            c = np.asarray(candidates, dtype=np.int64)
            keep[c[(c >= 0) & (c < m)]] = True
            filter_items = np.flatnonzero(~keep).astype(np.int32)
        excl = None
        if exclude is not None:
            excl = sp.csr_matrix(exclude, dtype=np.float32)
            excl.eliminate_zeros()
        kk = min(k, m)
        if n == 0 or kk == 0:
            return np.full((n, k), -1, np.int64), np.full((n, k), -np.inf, np.float32)
        from implicit.cpu.topk import topk  # imports all of implicit: not at API start-up

        ids, scores = topk(
            self.item_factors_,
            np.ascontiguousarray(query, dtype=np.float32),
            kk,
            filter_query_items=excl,
            filter_items=filter_items,
            num_threads=getattr(self, "num_threads", 0),
        )
        ids = np.asarray(ids, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float32)
        bad = scores <= _FILTERED
        ids[bad], scores[bad] = -1, -np.inf
        if kk < k:
            ids = np.pad(ids, ((0, 0), (0, k - kk)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        return ids, scores

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_ids] @ self.item_factors_.T

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return self.fold_in(history) @ self.item_factors_.T

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors for ad-hoc history rows (subclasses)."""
        raise NotImplementedError

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        unit = self._unit_factors()
        return unit[item_ids] @ unit.T

    def _unit_factors(self) -> np.ndarray:
        """Unit-norm item factors, computed once per set of factors (not per call)."""
        cached = getattr(self, "_unit_cache", None)
        if cached is None or cached[0] is not self.item_factors_:
            norms = np.linalg.norm(self.item_factors_, axis=1)
            norms[norms == 0] = 1.0
            cached = (self.item_factors_, self.item_factors_ / norms[:, None])
            self._unit_cache = cached
        unit: np.ndarray = cached[1]
        return unit

    def _state(self) -> State:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.user_factors_ = np.ascontiguousarray(state["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
