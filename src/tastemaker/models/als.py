"""ALS for implicit feedback (Hu, Koren, Volinsky 2008) via the `implicit` library."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tastemaker.models._factors import FactorModel
from tastemaker.models._sparse import binarize
from tastemaker.models.base import State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions
from tastemaker.models.rows import Row, as_row
from tastemaker.models.scores import zscores


class _Gram(NamedTuple):
    """What every user step shares: ``Y'Y + reg I`` and the item factors' mean and covariance."""

    factors: np.ndarray
    regularization: float
    gram: np.ndarray
    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def of(cls, factors: np.ndarray, regularization: float) -> _Gram:
        """Computed from ``factors`` (float64)."""
        y = factors.astype(np.float64)
        yty = y.T @ y
        n = max(len(y), 1)
        mean = y.sum(axis=0) / n
        cov = yty / n - np.outer(mean, mean)
        gram = yty + regularization * np.eye(y.shape[1])
        return cls(factors, regularization, gram, mean, cov)


# Defaults chosen by `tastemaker tune --dataset ml-100k --model als` on a validation split
# carved from the training part of seed 0 (record: src/tastemaker/evaluation/tuning_runs/
# ml-100k-als.json).
# (binary was fixed to True there; on binary data it is the same as False, the default here
# so event weights and dwell time act as confidence.)


@register
class ALSRecommender(FactorModel):
    """Weighted matrix factorization of the confidence matrix (event weights x dwell time).

    ``implicit`` treats ``alpha x value`` as the confidence of each observed pair.
    ``recommend_from_history`` solves the user's least-squares step against the fixed
    item factors (exact fold-in), so fresh events count immediately.

    Args:
        factors: latent dimensions.
        regularization: L2 penalty.
        alpha: confidence scale.
        iterations: ALS sweeps.
        binary: train on 0/1 instead of confidence weights.
        confidence: ``log`` compresses large weights (``1 + ln w`` above 1; 0/1 data is
            unchanged), ``linear`` uses the summed event weights as they are.
        random_state: seed of the initialization.
        num_threads: implicit's worker threads (0 = all cores).
    """

    name = "als"
    _gram_cache: _Gram | None = None
    _last_vector: tuple[object, np.ndarray, np.ndarray] | None = None

    def __init__(
        self,
        factors: int = 128,
        regularization: float = 30.0,
        alpha: float = 5.0,
        iterations: int = 15,
        binary: bool = False,
        confidence: str = "log",
        random_state: int = 0,
        num_threads: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.binary = binary
        self.confidence = confidence
        self.random_state = random_state
        self.num_threads = num_threads

    def _fit(self, interactions: Interactions, items: pl.DataFrame | None) -> None:
        data = interactions.matrix.data
        # weights are relative to the typical pair, so alpha means the same whatever the scale
        # of Settings.event_weights (0/1 data keeps scale 1)
        self.scale_ = np.asarray([float(np.median(data)) if len(data) else 1.0], np.float32)
        x = self._confidence(interactions.matrix)
        # training only: importing implicit costs ~0.15 s of every API start-up
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            model.fit(x, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _confidence(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """Weights / median weight -> 1 (binary), as is (linear) or ``1 + ln(w)`` above 1 (log)."""
        if self.binary:
            return binarize(matrix)
        out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        out.data = self.confidence_values(out.data)
        return out

    def confidence_values(self, values: np.ndarray) -> np.ndarray:
        """The non-binary mapping of :meth:`_confidence` on bare weights (float32 copy)."""
        out = np.array(values, dtype=np.float32)
        scale = getattr(self, "scale_", None)
        if scale is not None and scale[0] > 0:
            out /= scale[0]
        if self.confidence == "log":
            big = out > 1.0
            out[big] = 1.0 + np.log(out[big])
        return out

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Solve each row's ALS user step against the item factors."""
        hist = self._confidence(history)
        out = np.zeros((hist.shape[0], self.item_factors_.shape[1]), np.float32)
        for r in range(hist.shape[0]):
            lo, hi = hist.indptr[r], hist.indptr[r + 1]
            out[r] = self._user_step(hist.indices[lo:hi], hist.data[lo:hi])
        return out

    def user_vector(self, history: Row | sp.spmatrix | sp.sparray) -> np.ndarray:
        """User factors (float64) of one history row: the ALS user step, zeros for no history.

        The answer for the last row object asked about is kept: serving folds the same row
        in for the ANN query and again to score the candidates.
        """
        self._check()
        key = history.cols if isinstance(history, Row) else history
        last = self._last_vector
        if last is not None and last[0] is key and last[1] is self.item_factors_:
            return last[2]
        row = as_row(history, len(self.item_factors_))
        data = np.ones(len(row.cols)) if self.binary else self.confidence_values(row.vals)
        u = self._user_step(row.cols, data)
        self._last_vector = (key, self.item_factors_, u)
        return u

    def _user_step(self, cols: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """Least-squares user factors for items ``cols`` of confidence weights ``confidence``."""
        gram = self._gram()
        if len(cols) == 0:
            return np.zeros(gram.gram.shape[0])
        yi = self.item_factors_[cols].astype(np.float64)
        conf = self.alpha * np.asarray(confidence, np.float64)
        a = gram.gram + (yi.T * (conf - 1.0)) @ yi
        return np.asarray(np.linalg.solve(a, yi.T @ conf))

    def _gram(self) -> _Gram:
        """``Y'Y + reg I`` and the item factors' moments, computed once per set of factors."""
        cached = self._gram_cache
        if (
            cached is None
            or cached.factors is not self.item_factors_
            or cached.regularization != self.regularization
        ):
            cached = _Gram.of(self.item_factors_, self.regularization)
            self._gram_cache = cached
        return cached

    def _score_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        # float32, as score_items: half the memory traffic of float64, a BLAS product
        u = self.user_vector(row).astype(np.float32)
        return self.item_factors_.take(candidates, axis=0) @ u

    def _standardized_candidates(self, row: Row, candidates: np.ndarray) -> np.ndarray:
        # mean and variance of Y u over all items from the factors' mean and covariance
        u = self.user_vector(row)
        gram = self._gram()
        std = float(np.sqrt(max(float(u @ gram.cov @ u), 0.0)))
        scores = self.item_factors_.take(candidates, axis=0) @ u.astype(np.float32)
        return zscores(scores, float(gram.mean @ u), std)

    def warm_up(self) -> None:
        """Compute the Gram matrix of the user step now."""
        self._check()
        self._gram()

    def _state(self) -> State:
        return {**super()._state(), "scale": self.scale_}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.scale_ = np.asarray(state.get("scale", np.ones(1)), np.float32)
