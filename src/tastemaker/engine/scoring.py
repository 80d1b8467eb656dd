"""The ranker stage: the promoted model's scores on the candidates only.

``model.score_items`` scores every item and then picks the candidates; with 100,000
items that is most of a request. :class:`CandidateScorer` gives the same numbers for
ALS, item-kNN and their hybrid blend while touching only the candidates: ALS fold-in
with a cached Gram matrix, item-kNN as one sparse row product, and the hybrid's
per-row standardization from precomputed item-factor moments (exact, not sampled).
Other models fall back to ``model.score_items``.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import scipy.sparse as sp

from tastemaker.models.als import ALSRecommender
from tastemaker.models.base import Recommender
from tastemaker.models.itemknn import ItemKNNRecommender


class _Part(Protocol):
    def raw(self, row: Row, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Raw scores of the candidates plus the mean and std of the full score row."""
        ...


class Row(NamedTuple):
    """One user's history row as bare arrays: sorted distinct item indices and weights > 0."""

    cols: np.ndarray
    vals: np.ndarray

    @classmethod
    def of(cls, history: sp.csr_matrix) -> Row:
        """The first row of a CSR matrix (duplicates summed, non-positive entries dropped)."""
        h = sp.csr_matrix(history)
        lo, hi = h.indptr[0], h.indptr[1]
        return row_of(h.indices[lo:hi], h.data[lo:hi])

    def matrix(self, n_items: int) -> sp.csr_matrix:
        """The row as a ``[1, n_items]`` CSR matrix (for models without a fast path)."""
        indptr = np.asarray([0, len(self.cols)])
        return sp.csr_matrix((self.vals, self.cols.astype(np.int32), indptr), shape=(1, n_items))


def row_of(cols: np.ndarray, vals: np.ndarray) -> Row:
    """A :class:`Row` from possibly repeated columns: weights summed, non-positive dropped."""
    if len(cols) == 0:
        return Row(np.empty(0, np.int64), np.empty(0, np.float32))
    uniq, inv = np.unique(np.asarray(cols, np.int64), return_inverse=True)
    data = np.bincount(inv, weights=vals, minlength=len(uniq)).astype(np.float32)
    keep = data > 0
    return Row(uniq[keep], data[keep])


class ALSFoldIn:
    """Exact ALS fold-in (the model's user step) with the Gram matrix computed once."""

    def __init__(self, als: ALSRecommender) -> None:
        self.als = als
        self.factors = np.ascontiguousarray(als.item_factors_, dtype=np.float32)
        y = self.factors.astype(np.float64)
        self.y = y
        self.gram = y.T @ y + als.regularization * np.eye(y.shape[1])
        self.mean = y.mean(axis=0)
        centered = y - self.mean
        self.cov = centered.T @ centered / max(len(y), 1)
        self._last: tuple[object, np.ndarray] | None = None

    def vector(self, history: sp.csr_matrix | Row) -> np.ndarray:
        """User factors of one history row (zeros for an empty row; last result reused)."""
        key = history.cols if isinstance(history, Row) else history
        last = self._last
        if last is not None and last[0] is key:
            return last[1]
        u = self._solve(history if isinstance(history, Row) else Row.of(history))
        self._last = (key, u)
        return u

    def _solve(self, row: Row) -> np.ndarray:
        if len(row.cols) == 0:
            return np.zeros(self.y.shape[1])
        if self.als.binary:
            data = np.ones(len(row.cols))
        else:  # the model's own weight -> confidence mapping (linear or log)
            data = self.als.confidence_values(row.vals).astype(np.float64)
        yi = self.y[row.cols]
        conf = self.als.alpha * data
        a = self.gram + (yi.T * (conf - 1.0)) @ yi
        return np.asarray(np.linalg.solve(a, yi.T @ conf))

    def raw(self, row: Row, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Scores ``y_c . u`` and the mean / std of ``Y u`` over all items."""
        u = self.vector(row)
        scores = self.factors[cand] @ u  # float32 rows (half the memory traffic), float64 sum
        std = float(np.sqrt(max(u @ self.cov @ u, 0.0)))
        return scores, float(self.mean @ u), std


class KNNRow:
    """Item-kNN scores ``history @ W`` on the candidates, from the rows of the history items."""

    def __init__(self, knn: ItemKNNRecommender) -> None:
        w = sp.csr_matrix(knn.weights_, dtype=np.float32)
        self.indptr = w.indptr.astype(np.int64)
        self.lens = np.diff(self.indptr)
        self.indices = w.indices
        self.data = w.data
        self.n = w.shape[1]

    def raw(self, row: Row, cand: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Scores of the candidates and the mean / std of the full row."""
        starts, lens = self.indptr[row.cols], self.lens[row.cols]
        total = int(lens.sum())
        if total == 0:
            return np.zeros(len(cand)), 0.0, 0.0
        offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
        weights = self.data[offsets] * np.repeat(row.vals.astype(np.float64), lens)  # float64
        items, inv = np.unique(self.indices[offsets], return_inverse=True)
        sums = np.bincount(inv, weights=weights, minlength=len(items))
        at = np.minimum(np.searchsorted(items, cand), len(items) - 1)
        scores = np.where(items[at] == cand, sums[at], 0.0)
        mean = float(sums.sum()) / self.n
        var = float((sums**2).sum()) / self.n - mean**2
        return scores, mean, float(np.sqrt(max(var, 0.0)))


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

    def score(self, history: sp.csr_matrix | Row, candidates: np.ndarray) -> np.ndarray:
        """Float32 scores of ``candidates`` (item indices of the model) for one history row.

        ``history`` is a single CSR row (``[1, n_items]``) or a :class:`Row`.
        """
        cand = np.asarray(candidates, np.int64)
        if not self.parts:
            if isinstance(history, Row):
                history = history.matrix(self.model.n_items)
            return self.model.score_items(history, cand)[0]
        row = history if isinstance(history, Row) else Row.of(history)
        if self.weights is None:
            return self.parts[0].raw(row, cand)[0].astype(np.float32)
        out = np.zeros(len(cand), np.float64)
        for w, part in zip(self.weights, self.parts, strict=True):
            if w > 0:
                raw, mean, std = part.raw(row, cand)
                out += w * (raw - mean) / (std if std > 0 else 1.0)
        return out.astype(np.float32)
