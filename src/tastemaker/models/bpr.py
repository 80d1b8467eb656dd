"""Bayesian Personalized Ranking (Rendle et al. 2009) via the `implicit` library."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tastemaker.models._factors import FactorModel
from tastemaker.models._sparse import binarize, row_normalize
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions

# Defaults chosen by `tastemaker tune --dataset ml-100k --model bpr` on a validation split
# carved from the training part of seed 0 (record: src/tastemaker/evaluation/tuning_runs/
# ml-100k-bpr.json).


@register
class BPRRecommender(FactorModel):
    """Pairwise ranking factorization trained by SGD on (user, seen, unseen) triples.

    ``implicit`` appends an item-bias column to ``item_factors_`` (and a constant 1 to
    ``user_factors_``). ``recommend_from_history`` approximates a new user's factors by
    the weighted mean of the history's item factors (BPR has no closed-form fold-in).

    Args:
        factors: latent dimensions.
        learning_rate: SGD step.
        regularization: L2 penalty.
        iterations: epochs.
        random_state: seed.
        num_threads: implicit's worker threads (0 = all cores).
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 128,
        learning_rate: float = 0.005,
        regularization: float = 0.03,
        iterations: int = 100,
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking  # training only (slow import)

        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            model.fit(binarize(interactions.matrix), show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Weighted mean of the history's item factors, bias slot set to 1."""
        weights = row_normalize(binarize(history))
        weights.data = weights.data**2  # rows now sum to 1
        out = np.asarray(weights @ self.item_factors_, dtype=np.float32)
        out[:, -1] = 1.0
        return out
