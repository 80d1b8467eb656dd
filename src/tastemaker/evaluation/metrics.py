"""Ranking metrics at K, beyond-accuracy metrics, and bootstrap confidence intervals.

Accuracy metrics take ``recs`` (item indices ``[n_users, >=k]``, -1 padded) and
``relevant`` (CSR ``[n_users, n_items]``, nonzero = relevant, rows aligned with ``recs``)
and return one value per user. Relevance is binary.

Definitions (``rel_i`` = 1 if the item at rank ``i`` is relevant, ``R`` = relevant count):
precision = hits / k; recall = hits / R; NDCG = DCG / IDCG with gain ``1/log2(i+1)`` and
IDCG over ``min(R, k)`` items; AP = ``sum_i P@i rel_i / min(R, k)``; MRR = 1 / rank of the
first hit (0 if none); hit rate = 1 if any hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# the hybrid model fits its blend weights on the same NDCG (one implementation)
from tastemaker.models.holdout import hits, n_relevant, ndcg_from_hits

ACCURACY_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


@dataclass(frozen=True)
class Estimate:
    """A mean with a bootstrap confidence interval."""

    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """Return ``{"mean", "low", "high"}``."""
        return {"mean": self.mean, "low": self.low, "high": self.high}


def accuracy_at_k(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Every accuracy metric at ``k``, per user (users with no relevant item score 0)."""
    h = hits(recs, relevant, k).astype(np.float64)
    kk = h.shape[1]
    n_rel = n_relevant(relevant)
    safe = np.where(n_rel > 0, n_rel, 1.0)
    n_hits = h.sum(axis=1)
    ndcg = ndcg_from_hits(h, n_rel, k)
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, kk + 1)
    ap = (prec_at_i * h).sum(axis=1) / np.minimum(safe, k)
    first = np.where(h.any(axis=1), h.argmax(axis=1) + 1, 0)
    mrr = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
    return {
        "precision": n_hits / k,
        "recall": n_hits / safe,
        "ndcg": ndcg,
        "map": ap,
        "mrr": mrr,
        "hit_rate": (n_hits > 0).astype(np.float64),
    }


def average_precision_over_relevant(
    recs: np.ndarray, relevant: sp.csr_matrix, k: int
) -> np.ndarray:
    """AP@k divided by all of a user's relevant items (Microsoft Recommenders' ``map_at_k``)."""
    h = hits(recs, relevant, k).astype(np.float64)
    prec_at_i = np.cumsum(h, axis=1) / np.arange(1, h.shape[1] + 1)
    n_rel = n_relevant(relevant)
    return (prec_at_i * h).sum(axis=1) / np.where(n_rel > 0, n_rel, 1.0)


def catalog_coverage(recs: np.ndarray, n_items: int) -> float:
    """Share of the catalog recommended to at least one user."""
    r = np.asarray(recs).ravel()
    return float(len(np.unique(r[r >= 0])) / n_items) if n_items else 0.0


def popularity_gini(recs: np.ndarray, n_items: int) -> float:
    """Gini index of how often each catalog item is recommended (0 = even, 1 = one item)."""
    r = np.asarray(recs).ravel()
    counts = np.sort(np.bincount(r[r >= 0], minlength=n_items).astype(np.float64))
    total = counts.sum()
    if total == 0 or n_items < 2:
        return 0.0
    i = np.arange(1, n_items + 1)
    return float(((2 * i - n_items - 1) * counts).sum() / (n_items * total))


def novelty(recs: np.ndarray, item_popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Per user: mean self-information ``-log2(p_i)`` of the recommended items.

    ``p_i`` is the share of training users who interacted with item ``i`` (unseen items
    count as seen by one user).
    """
    r = np.asarray(recs)
    p = np.maximum(np.asarray(item_popularity, np.float64), 1.0) / max(n_users, 1)
    info = -np.log2(p)
    vals = np.where(r >= 0, info[np.clip(r, 0, None)], np.nan)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.nanmean(np.where(r >= 0, vals, np.nan), axis=1))


def intra_list_diversity(recs: np.ndarray, item_vectors: sp.csr_matrix) -> np.ndarray:
    """Per user: mean pairwise cosine distance between recommended items.

    ``item_vectors`` are item rows (e.g. the transposed training matrix). Uses
    ``|sum v|^2 = L + 2 sum_{i<j} cos_ij`` for unit vectors, so no pairwise loop.
    """
    r = np.asarray(recs)
    n, k = r.shape
    vec = sp.csr_matrix(item_vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(vec.multiply(vec).sum(axis=1)).ravel())
    unit = sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ vec
    valid = r >= 0
    lengths = valid.sum(axis=1)
    rows = np.repeat(np.arange(n), k)[valid.ravel()]
    pick = sp.csr_matrix(
        (np.ones(len(rows)), (rows, r.ravel()[valid.ravel()])), shape=(n, vec.shape[0])
    )
    summed = pick @ unit
    sq = np.asarray(summed.multiply(summed).sum(axis=1)).ravel()
    zero_rows = (norms[np.clip(r, 0, None)] == 0) & valid
    unit_count = lengths - zero_rows.sum(axis=1)
    pairs = lengths * (lengths - 1) / 2.0
    sim_sum = (sq - unit_count) / 2.0
    return np.where(pairs > 0, 1.0 - sim_sum / np.where(pairs > 0, pairs, 1.0), 0.0)


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean of ``values`` with a percentile bootstrap interval over users."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    step = max(1, (1 << 22) // len(v))
    for s in range(0, n_resamples, step):
        m = min(step, n_resamples - s)
        means[s : s + m] = v[rng.integers(0, len(v), size=(m, len(v)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(float(v.mean()), float(low), float(high))


def bootstrap_global(
    recs: np.ndarray,
    statistic: str,
    n_items: int,
    *,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Coverage or Gini (``statistic``) with a bootstrap interval from resampling users."""
    fn = catalog_coverage if statistic == "coverage" else popularity_gini
    rng = np.random.default_rng(seed)
    point = fn(recs, n_items)
    if len(recs) == 0:
        return Estimate(point, point, point)
    stats = np.array(
        [fn(recs[rng.integers(0, len(recs), len(recs))], n_items) for _ in range(n_resamples)]
    )
    tail = (1.0 - confidence) / 2.0
    # resampling users biases catalog-level statistics (duplicates shrink coverage), so the
    # percentile band is re-centred on the point estimate
    shift = point - float(stats.mean())
    low, high = np.quantile(stats, [tail, 1.0 - tail]) + shift
    return Estimate(point, float(min(low, point)), float(max(high, point)))
