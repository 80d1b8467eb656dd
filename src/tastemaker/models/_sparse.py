"""Sparse-matrix helpers shared by the neighbourhood models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def prune_rows(matrix: sp.spmatrix | sp.sparray, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row of ``matrix`` (vectorized)."""
    m = sp.csr_matrix(matrix)
    m.eliminate_zeros()
    counts = np.diff(m.indptr)
    if k <= 0 or counts.max(initial=0) <= k:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    out = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    out.sort_indices()
    return out


def row_normalize(matrix: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """Scale each row to unit L2 norm (zero rows stay zero)."""
    m = sp.csr_matrix(matrix, dtype=np.float32)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ m, dtype=np.float32)


def binarize(matrix: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    """Copy of ``matrix`` with every stored nonzero set to 1."""
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    m.eliminate_zeros()
    m.data = np.ones_like(m.data)
    return m


def dense(matrix: sp.spmatrix | sp.sparray | np.ndarray) -> np.ndarray:
    """Return ``matrix`` as a dense float32 array."""
    if sp.issparse(matrix):
        return np.asarray(matrix.toarray(), dtype=np.float32)  # type: ignore[union-attr]
    return np.asarray(matrix, dtype=np.float32)
