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

    def __init__(self, ids: Iterable[str] | pl.Series | np.ndarray = ()) -> None:
        if isinstance(ids, pl.Series):
            series = ids.cast(pl.String).rename("id")
        else:
            values = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
            series = pl.Series("id", [str(x) for x in values], dtype=pl.String)
        if series.null_count() or series.n_unique() != len(series):
            raise ValueError("vocabulary ids must be unique and not null")
        self._series = series
        self._ids_cache: np.ndarray | None = None
        self._lookup: dict[str, int] | None = None

    @classmethod
    def from_values(cls, values: pl.Series | Iterable[str]) -> Vocabulary:
        """Build a vocabulary from values in first-seen order (duplicates and nulls dropped)."""
        s = values if isinstance(values, pl.Series) else pl.Series(list(values), dtype=pl.String)
        return cls(s.cast(pl.String).drop_nulls().unique(maintain_order=True))

    def __len__(self) -> int:
        return len(self._series)

    def __contains__(self, item_id: object) -> bool:
        return str(item_id) in self._dict()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._series.equals(other._series)

    def __hash__(self) -> int:  # vocabularies are compared by content; not meant as dict keys
        return hash(len(self))

    @property
    def ids(self) -> np.ndarray:
        """All ids in index order (object array of str)."""
        if self._ids_cache is None:
            self._ids_cache = np.asarray(self._series.to_list(), dtype=object)
        return self._ids_cache

    @property
    def series(self) -> pl.Series:
        """All ids in index order as a polars String series."""
        return self._series

    def _dict(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {k: i for i, k in enumerate(self._series.to_list())}
        return self._lookup

    def index(self, ids: Iterable[str] | pl.Series | np.ndarray) -> np.ndarray:
        """Return the indices of ``ids`` (int64); unknown ids map to -1."""
        s = ids if isinstance(ids, pl.Series) else pl.Series(list(ids), dtype=pl.String)
        if len(self) == 0:
            return np.full(len(s), -1, dtype=np.int64)
        table = pl.DataFrame({"id": self._series, "idx": pl.int_range(len(self), eager=True)})
        probe = pl.DataFrame({"id": s.cast(pl.String)})
        joined = probe.join(table, on="id", how="left", maintain_order="left")
        return joined["idx"].fill_null(-1).to_numpy().astype(np.int64, copy=False)

    def index_of(self, item_id: str) -> int:
        """Return the index of one id, or -1 when it is unknown."""
        return self._dict().get(str(item_id), -1)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """Return the ids of ``indices`` (any shape); -1 becomes ``None``."""
        idx = np.asarray(indices, dtype=np.int64)
        out = np.empty(idx.shape, dtype=object)
        valid = idx >= 0
        out[valid] = self.ids[idx[valid]]
        out[~valid] = None
        return out

    def extend(self, ids: Iterable[str]) -> Vocabulary:
        """Return a new vocabulary with the unseen ``ids`` appended (existing indices kept)."""
        new = pl.Series("id", [str(x) for x in ids], dtype=pl.String).unique(maintain_order=True)
        extra = new.filter(~new.is_in(self._series.implode()))
        return Vocabulary(pl.concat([self._series, extra]))

    def to_array(self) -> np.ndarray:
        """Return the ids as a unicode numpy array (savable in ``.npz`` without pickle)."""
        return self._series.to_numpy().astype(str) if len(self) else np.empty(0, dtype="<U1")

    @classmethod
    def from_array(cls, arr: np.ndarray) -> Vocabulary:
        """Inverse of :meth:`to_array`."""
        return cls(pl.Series("id", np.asarray(arr, dtype=str), dtype=pl.String))

    def save(self, path: Path) -> None:
        """Write the ids to ``path`` as a JSON list."""
        Path(path).write_text(json.dumps(self._series.to_list()))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls(json.loads(Path(path).read_text()))
