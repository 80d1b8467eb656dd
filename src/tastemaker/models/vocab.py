"""Vocabulary: the map between external ids (strings) and dense integer indices."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl


class Vocabulary:
    """An ordered set of external ids; index ``i`` is the ``i``-th id.

    Models work on dense indices; a vocabulary translates at the edges. Lookups of
    whole arrays are vectorized through polars.

    Args:
        ids: the ids in index order (must be unique).
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=object)
        self._ids = arr.astype(str).astype(object) if len(arr) else np.empty(0, dtype=object)
        self._series = pl.Series("id", list(self._ids), dtype=pl.String)
        if self._series.n_unique() != len(self._series):
            raise ValueError("vocabulary ids must be unique")
        self._lookup: dict[str, int] | None = None

    @classmethod
    def from_values(cls, values: pl.Series | Iterable[str]) -> Vocabulary:
        """Build a vocabulary from values in first-seen order (duplicates and nulls dropped)."""
        s = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
        s = s.cast(pl.String).drop_nulls().unique(maintain_order=True)
        return cls(np.asarray(s.to_list(), dtype=object))

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._dict()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._series.equals(other._series)

    def __hash__(self) -> int:  # vocabularies are compared by content; not meant as dict keys
        return hash(len(self))

    @property
    def ids(self) -> np.ndarray:
        """All ids in index order (object array of str)."""
        return self._ids

    def _dict(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {k: i for i, k in enumerate(self._ids)}
        return self._lookup

    def index(self, ids: Iterable[str] | pl.Series | np.ndarray) -> np.ndarray:
        """Return the indices of ``ids`` (int64); unknown ids map to -1."""
        s = ids if isinstance(ids, pl.Series) else pl.Series(list(ids), dtype=pl.String)
        if len(self) == 0:
            return np.full(len(s), -1, dtype=np.int64)
        mapped = s.cast(pl.String).replace_strict(
            self._series, pl.int_range(len(self), eager=True), default=-1, return_dtype=pl.Int64
        )
        return mapped.fill_null(-1).to_numpy().astype(np.int64, copy=False)

    def index_of(self, item_id: str) -> int:
        """Return the index of one id, or -1 when it is unknown."""
        return self._dict().get(str(item_id), -1)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Return the ids of ``indices`` (any shape); -1 becomes ``None``."""
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty(idx.shape, dtype=object)
        valid = idx >= 0
        out[valid] = self._ids[idx[valid]]
        out[~valid] = None
        return out

    def extend(self, ids: Iterable[str]) -> Vocabulary:
        """Return a new vocabulary with the unseen ``ids`` appended (existing indices kept)."""
        known = self._dict()
        extra = [i for i in dict.fromkeys(str(x) for x in ids) if i not in known]
        return Vocabulary(np.concatenate([self._ids, np.asarray(extra, dtype=object)]))

    def to_array(self) -> np.ndarray:
        """Return the ids as a unicode numpy array (savable in ``.npz`` without pickle)."""
        return np.asarray(self._ids, dtype=str) if len(self) else np.empty(0, dtype="<U1")

    @classmethod
    def from_array(cls, arr: np.ndarray) -> Vocabulary:
        """Inverse of :meth:`to_array`."""
        return cls(np.asarray(arr, dtype=object))

    def save(self, path: Path) -> None:
        """Write the ids to ``path`` as a JSON list."""
        Path(path).write_text(json.dumps([str(x) for x in self._ids]))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls(json.loads(Path(path).read_text()))
