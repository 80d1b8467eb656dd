"""Shared behaviour of matrix-factorization models (ALS, BPR)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from tastemaker.models.base import Recommender, State


class FactorModel(Recommender):
    """A model scoring ``user_factors_ @ item_factors_.T`` (float32, exposed for ANN)."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_ids] @ self.item_factors_.T

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return self.fold_in(history) @ self.item_factors_.T

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors for ad-hoc history rows (subclasses)."""
        raise NotImplementedError

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors_, axis=1)
        norms[norms == 0] = 1.0
        unit = self.item_factors_ / norms[:, None]
        return unit[item_ids] @ unit.T

    def _state(self) -> State:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.user_factors_ = np.ascontiguousarray(state["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(state["item_factors"], dtype=np.float32)
