"""EASE: the closed-form item-item linear autoencoder (Steck, 2019)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import ValidationFailedError
from tastemaker.models._sparse import binarize, dense
from tastemaker.models.base import Recommender, State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions

# Chosen by `tastemaker tune --dataset ml-100k --model ease` on a validation split carved
# from the training part of seed 0; the run is recorded in
# src/tastemaker/evaluation/tuning_runs/ml-100k-ease.json.
DEFAULT_L2 = 700.0


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite float32 matrix via Cholesky (LAPACK potrf/potri).

    About twice as fast as a general inverse; the ridge term keeps the system well conditioned.
    """
    from scipy.linalg import lapack  # training only: scipy.linalg slows every start-up

    chol, info = lapack.spotrf(matrix, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        return np.linalg.inv(matrix.astype(np.float64)).astype(np.float32)
    inv, info = lapack.spotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: potri failed with info={info}")
    upper = np.triu(inv)
    return upper + np.triu(upper, 1).T


@register
class EASERecommender(Recommender):
    """``B = argmin |X - XB|^2 + l2 |B|^2`` with ``diag(B) = 0``, solved in closed form.

    Needs a dense ``n_items x n_items`` matrix, so it suits catalogs up to a few
    tens of thousands of items (``max_items``).

    Args:
        l2: ridge strength (larger = closer to popularity).
        binary: train on 0/1 interactions instead of confidence weights.
        max_items: refuse larger catalogs rather than exhaust memory.
    """

    name = "ease"

    def __init__(
        self, l2: float = DEFAULT_L2, binary: bool = True, max_items: int = 30_000
    ) -> None:
        self.l2 = l2
        self.binary = binary
        self.max_items = max_items

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        n = interactions.n_items
        if n > self.max_items:
            raise ValidationFailedError(
                f"EASE needs an {n}x{n} dense matrix; catalog exceeds max_items={self.max_items}"
                " (use itemknn or als instead)",
                field="max_items",
            )
        x = binarize(interactions.matrix) if self.binary else interactions.matrix
        gram = (x.T @ x).toarray().astype(np.float32)
        gram[np.diag_indices(n)] += self.l2
        precision = _spd_inverse(gram)
        b = precision / (-np.diag(precision))[None, :]
        b[np.diag_indices(n)] = 0.0
        self.weights_ = b.astype(np.float32, copy=False)
        self.train_ = x

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return dense(history @ self.weights_)

    def _similar_scores(self, item_ids: np.ndarray) -> np.ndarray:
        return np.asarray(self.weights_[item_ids], dtype=np.float32)

    def _state(self) -> State:
        return {"weights": self.weights_, "train": self.train_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.weights_ = state["weights"]
        self.train_ = state["train"]
