"""The ranker stage: the promoted model's scores on the candidates only.

``model.score_items`` scores every item and then picks the candidates; with 100,000
items that is most of a request. :class:`CandidateScorer` gives the same numbers for
ALS, item-kNN and their hybrid blend while touching only the candidates: ALS fold-in
with a cached Gram matrix, item-kNN as one sparse row product, and the hybrid's
per-row standardization from precomputed item-factor moments (exact, not sampled).
Other models fall back to ``model.score_items``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from tastemaker.models.als import ALSRecommender
from tastemaker.models.base import Recommender
from tastemaker.models.itemknn import ItemKNNRecommender


class _Part(Protocol):
    def raw(self, history: sp.csr_matrix, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Raw scores of the candidates plus the mean and std of the full score row."""
        ...


class ALSFoldIn:
    """Exact ALS fold-in (the model's user step) with the Gram matrix computed once."""

    def __init__(self, als: ALSRecommender) -> None:
        self.als = als
        y = als.item_factors_.astype(np.float64)
        self.y = y
        self.gram = y.T @ y + als.regularization * np.eye(y.shape[1])
        self.mean = y.mean(axis=0)
        centered = y - self.mean
        self.cov = centered.T @ centered / max(len(y), 1)
        self._last: tuple[sp.csr_matrix, np.ndarray] | None = None

    def vector(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors of one history row (zeros for an empty row; last result reused)."""
        last = self._last
        if last is not None and last[0] is history:
            return last[1]
        u = self._solve(history)
        self._last = (history, u)
        return u

    def _solve(self, history: sp.csr_matrix) -> np.ndarray:
        if history.indptr[1] == history.indptr[0]:
            return np.zeros(self.y.shape[1])
        # the model's own weight -> confidence mapping (binary, linear or log), if it has one
        transform = getattr(self.als, "_confidence", None)
        hist = transform(history) if transform is not None else history
        lo, hi = hist.indptr[0], hist.indptr[1]
        cols = hist.indices[lo:hi]
        data = np.ones(hi - lo) if self.als.binary else hist.data[lo:hi].astype(np.float64)
        yi = self.y[cols]
        conf = self.als.alpha * data
        a = self.gram + (yi.T * (conf - 1.0)) @ yi
        return np.asarray(np.linalg.solve(a, yi.T @ conf))

    def raw(self, history: sp.csr_matrix, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Scores ``y_c . u`` and the mean / std of ``Y u`` over all items."""
        u = self.vector(history)
        scores = self.y[cand] @ u
        std = float(np.sqrt(max(u @ self.cov @ u, 0.0)))
        return scores, float(self.mean @ u), std


class KNNRow:
    """Item-kNN scores ``history @ W`` as one sparse row."""

    def __init__(self, knn: ItemKNNRecommender) -> None:
        self.weights = sp.csr_matrix(knn.weights_, dtype=np.float32)
        self.n = self.weights.shape[1]

    def raw(self, history: sp.csr_matrix, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Scores of the candidates and the mean / std of the full row."""
        row = sp.csr_matrix(history @ self.weights)
        dense = np.zeros(self.n, np.float64)
        dense[row.indices] = row.data
        mean = float(row.data.sum()) / self.n
        var = float((row.data.astype(np.float64) ** 2).sum()) / self.n - mean**2
        return dense[cand], mean, float(np.sqrt(max(var, 0.0)))


def _part(model: Recommender, fold_in: ALSFoldIn | None) -> _Part | None:
    if isinstance(model, ALSRecommender):
        return fold_in if fold_in is not None and fold_in.als is model else ALSFoldIn(model)
    if isinstance(model, ItemKNNRecommender):
        return KNNRow(model)
    return None


class CandidateScorer:
    """Scores of one user's history on candidate items, as ``model.score_items`` gives.

    Args:
        model: the promoted scorer.
        fold_in: the retrieval ALS fold-in, shared when the scorer contains that ALS.
    """

    def __init__(self, model: Recommender, fold_in: ALSFoldIn | None = None) -> None:
        self.model = model
        self.weights: np.ndarray | None = None
        self.parts: list[_Part] = []
        components = getattr(model, "models_", None)
        if model.name == "hybrid" and components is not None:
            parts = [_part(m, fold_in) for m in components]
            if all(p is not None for p in parts):
                self.parts = [p for p in parts if p is not None]
                self.weights = np.asarray(model.weights_, np.float64)  # type: ignore[attr-defined]
        else:
            single = _part(model, fold_in)
            self.parts = [single] if single is not None else []

    @property
    def fast(self) -> bool:
        """True when candidates are scored without scoring the whole catalog."""
        return bool(self.parts)

    def score(self, history: sp.csr_matrix, candidates: np.ndarray) -> np.ndarray:
        """Float32 scores of ``candidates`` (item indices of the model) for one history row.

        ``history`` must be a single CSR row (``[1, n_items]``).
        """
        cand = np.asarray(candidates, np.int64)
        if not self.parts:
            return self.model.score_items(history, cand)[0]
        if self.weights is None:
            return self.parts[0].raw(history, cand)[0].astype(np.float32)
        out = np.zeros(len(cand), np.float64)
        for w, part in zip(self.weights, self.parts, strict=True):
            if w > 0:
                raw, mean, std = part.raw(history, cand)
                out += w * (raw - mean) / (std if std > 0 else 1.0)
        return out.astype(np.float32)
