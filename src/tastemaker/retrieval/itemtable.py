"""`ItemTable`: catalog attributes as numpy arrays aligned to the serving item indices.

Serving never queries the catalog per request: stock, brand, category, creation time and
every other attribute sit in memory as arrays (categorical columns as integer codes), so
filters and business rules are boolean masks over item indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl

from tastemaker.models.vocab import Vocabulary

_SKIP = ("item_id", "text")


@dataclass(frozen=True)
class Categorical:
    """A categorical column: ``codes[i]`` indexes ``labels``; -1 is missing."""

    codes: np.ndarray
    labels: list[str]

    def code_of(self, label: str) -> int:
        """Code of ``label`` (case-insensitive), or -1 when no item has it."""
        return self._codes.get(label.lower(), -1)

    @cached_property
    def _codes(self) -> dict[str, int]:
        codes: dict[str, int] = {}
        for i, name in enumerate(self.labels):
            codes.setdefault(name.lower(), i)  # the first label of a spelling wins
        return codes


@dataclass
class ItemTable:
    """Item attributes aligned to ``vocab`` (model items first, then catalog-only items).

    Attributes:
        vocab: item ids in index order.
        n_model: items the model scores (indices ``>= n_model`` are catalog-only, e.g. new).
        in_catalog: the item is in the catalog (model items may have been deleted).
        in_stock: stock flag (False when unknown to the catalog).
        created_ms: creation time in epoch ms (-1 unknown).
        titles: display titles (item id when missing).
        categorical: string columns as codes.
        numeric: numeric columns (NaN missing).
    """

    vocab: Vocabulary
    n_model: int
    in_catalog: np.ndarray
    in_stock: np.ndarray
    created_ms: np.ndarray
    titles: np.ndarray
    categorical: dict[str, Categorical] = field(default_factory=dict)
    numeric: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.vocab)

    @classmethod
    def build(cls, items: pl.DataFrame, model_items: Vocabulary) -> ItemTable:
        """Align the catalog frame (``Store.items()``) to the model's item vocabulary.

        Catalog items the model has never seen are appended after the model's items.
        """
        ids = items["item_id"].cast(pl.String) if items.height else pl.Series([], dtype=pl.String)
        vocab = model_items.extend(ids.to_list())
        n = len(vocab)
        pos = vocab.index(ids)
        in_catalog = np.zeros(n, bool)
        in_catalog[pos] = True
        in_stock = np.zeros(n, bool)
        created = np.full(n, -1, np.int64)
        titles = vocab.ids.copy()
        categorical: dict[str, Categorical] = {}
        numeric: dict[str, np.ndarray] = {}
        for name, dtype in items.schema.items():
            if name in _SKIP:
                continue
            col = items[name]
            if name == "in_stock":
                in_stock[pos] = col.cast(pl.Boolean).fill_null(False).to_numpy()
            elif name == "created_at":
                created[pos] = _epoch_ms(col)
            elif name == "title":
                t = col.cast(pl.String).to_numpy()
                ok = np.asarray([v is not None for v in t], bool)
                titles[pos[ok]] = t[ok]
            elif dtype.is_numeric() or dtype == pl.Boolean:
                arr = np.full(n, np.nan)
                arr[pos] = col.cast(pl.Float64).fill_null(np.nan).to_numpy()
                numeric[name] = arr
            else:
                categorical[name] = _categorical(col.cast(pl.String), pos, n)
        return cls(vocab, len(model_items), in_catalog, in_stock, created, titles,
                   categorical, numeric)  # fmt: skip

    def lookup(self, item_ids: list[str]) -> np.ndarray:
        """Indices of a few ids (-1 unknown) by hash lookup; for bulk use ``vocab.index``."""
        return np.fromiter(
            (self.vocab.index_of(i) for i in item_ids), dtype=np.int64, count=len(item_ids)
        )

    def is_new(self, days: float) -> np.ndarray:
        """Items created within ``days`` of the newest item's creation time."""
        known = self.created_ms >= 0
        if not known.any():
            return np.zeros(len(self), bool)
        newest = int(self.created_ms[known].max())
        return known & (self.created_ms >= newest - int(days * 86_400_000))

    def label(self, column: str, index: int) -> str | None:
        """The value of a categorical column for one item."""
        cat = self.categorical.get(column)
        if cat is None or cat.codes[index] < 0:
            return None
        return cat.labels[int(cat.codes[index])]


def _categorical(col: pl.Series, pos: np.ndarray, n: int) -> Categorical:
    labels = col.drop_nulls().unique().sort().to_list()
    codes = np.full(n, -1, np.int32)
    if labels:
        mapped = col.replace_strict(
            labels, list(range(len(labels))), default=-1, return_dtype=pl.Int32
        )
        codes[pos] = mapped.fill_null(-1).to_numpy()
    return Categorical(codes, [str(x) for x in labels])


def _epoch_ms(col: pl.Series) -> np.ndarray:
    if isinstance(col.dtype, pl.Datetime):
        out = col.dt.epoch("ms")
    elif col.dtype.is_integer():
        out = col
    else:
        out = col.cast(pl.String).str.to_datetime(time_zone="UTC", strict=False).dt.epoch("ms")
    return out.fill_null(-1).cast(pl.Int64).to_numpy()
