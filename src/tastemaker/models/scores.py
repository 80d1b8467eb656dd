"""Score rows: the top-k of each row, and per-row standardization (the hybrid's blend input)."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``k`` best columns per row, best first.

    Args:
        scores: ``[n, m]`` float scores; ``-inf`` marks items that must not be returned.
        k: list length.

    Returns:
        ``(indices int64 [n, k], scores float32 [n, k])``; slots without a finite score
        hold index -1 and score ``-inf``.
    """
    n, m = scores.shape
    kk = min(k, m)
    if kk <= 0:
        return np.full((n, k), -1, np.int64), np.full((n, k), -np.inf, np.float32)
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(m), (n, m)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)  # ties broken by lower index, deterministic
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    bad = ~np.isfinite(vals)
    idx[bad] = -1
    vals[bad] = -np.inf
    if kk < k:
        idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return idx, vals


def standardize(scores: np.ndarray) -> np.ndarray:
    """Per row: subtract the mean and divide by the standard deviation (constant rows -> 0).

    Non-finite scores are first replaced by the row's lowest finite score.
    """
    s = np.asarray(scores, dtype=np.float32)
    finite = np.isfinite(s)
    if not finite.all():  # "not a candidate" (-inf) counts as the row's lowest score
        low = np.where(finite, s, np.inf).min(axis=1, keepdims=True)
        s = np.where(finite, s, np.where(np.isfinite(low), low, 0.0)).astype(np.float32)
    mean = s.mean(axis=1, keepdims=True)
    std = s.std(axis=1, keepdims=True)
    return (s - mean) / np.where(std > 0, std, 1.0)


def zscores(scores: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Some scores of one row standardized with the full row's ``mean`` and ``std``.

    The same numbers :func:`standardize` gives for those items, from moments a model
    computes without scoring the whole row (a constant row, ``std == 0``, gives zeros).
    A float64 ``scores`` array is overwritten (pass one of your own); others are copied.
    """
    out = scores if scores.dtype == np.float64 else scores.astype(np.float64)
    out -= mean
    if std > 0:
        out /= std
    return out
