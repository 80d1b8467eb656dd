"""ALS for implicit feedback (Hu, Koren, Volinsky 2008) via the `implicit` library."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tastemaker.models._factors import FactorModel
from tastemaker.models._sparse import binarize
from tastemaker.models.base import State
from tastemaker.models.catalog import register
from tastemaker.models.interactions import Interactions

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
        scale = float(getattr(self, "scale_", np.ones(1))[0])
        if scale > 0:
            out /= np.float32(scale)
        if self.confidence == "log":
            out = np.where(out > 1.0, 1.0 + np.log(np.maximum(out, 1.0)), out)
        return out

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Solve each row's ALS user step against the item factors."""
        hist = self._confidence(history)
        y = self.item_factors_.astype(np.float64)
        base = y.T @ y + self.regularization * np.eye(y.shape[1])
        out = np.zeros((hist.shape[0], y.shape[1]), np.float32)
        for r in range(hist.shape[0]):
            lo, hi = hist.indptr[r], hist.indptr[r + 1]
            if lo == hi:
                continue
            yi = y[hist.indices[lo:hi]]
            conf = self.alpha * hist.data[lo:hi].astype(np.float64)
            a = base + (yi.T * (conf - 1.0)) @ yi
            out[r] = np.linalg.solve(a, yi.T @ conf)
        return out

    def _state(self) -> State:
        return {**super()._state(), "scale": self.scale_}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.scale_ = np.asarray(state.get("scale", np.ones(1)), np.float32)
