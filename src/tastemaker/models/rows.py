"""One user's history row as two bare arrays (`Row`): what serving scores, without scipy.

A request builds the row of one user (training-time history plus fresh events) and
hands it to ``Recommender.score_candidates``; a scipy matrix per request would cost more
than the scoring itself.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from tastemaker.errors import ValidationFailedError


class Row(NamedTuple):
    """One user's history: sorted distinct item indices and their weights (all > 0)."""

    cols: np.ndarray
    vals: np.ndarray

    @classmethod
    def of(cls, history: sp.spmatrix | sp.sparray) -> Row:
        """The first row of a CSR matrix (duplicates summed, non-positive entries dropped)."""
        h = sp.csr_matrix(history)
        lo, hi = h.indptr[0], h.indptr[1]
        return row_of(h.indices[lo:hi], h.data[lo:hi])

    def matrix(self, n_items: int) -> sp.csr_matrix:
        """The row as a ``[1, n_items]`` float32 CSR matrix."""
        indptr = np.asarray([0, len(self.cols)])
        return sp.csr_matrix(
            (np.asarray(self.vals, np.float32), self.cols.astype(np.int32), indptr),
            shape=(1, n_items),
        )


def row_of(cols: np.ndarray, vals: np.ndarray) -> Row:
    """A :class:`Row` from possibly repeated columns: weights summed, non-positive dropped."""
    if len(cols) == 0:
        return Row(np.empty(0, np.int64), np.empty(0, np.float32))
    uniq, inv = np.unique(np.asarray(cols, np.int64), return_inverse=True)
    data = np.bincount(inv, weights=vals, minlength=len(uniq)).astype(np.float32)
    keep = data > 0
    return Row(uniq[keep], data[keep])


def as_row(history: Row | sp.spmatrix | sp.sparray, n_items: int) -> Row:
    """``history`` as a :class:`Row` over ``n_items`` items (a Row is returned as is).

    Raises:
        ValidationFailedError: a matrix that is not one row of ``n_items`` columns, or a
            Row naming an item outside ``[0, n_items)``.
    """
    if isinstance(history, Row):
        if len(history.cols) and (history.cols[0] < 0 or history.cols[-1] >= n_items):
            raise ValidationFailedError(
                f"history row names an item outside [0, {n_items})", field="history"
            )
        return history
    if history.shape != (1, n_items):
        raise ValidationFailedError(
            f"history must be one row of {n_items} items, got shape {history.shape}",
            field="history",
        )
    return Row.of(history)
