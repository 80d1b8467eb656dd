"""The catalog attributes profiles and the featured listing need, loaded once and refreshed.

`CatalogCache` reads ``store.items()`` once, derives the configured attributes (with the
price band computed from the price) and re-reads only when the store's cheap catalog
fingerprint (`Store.items_version`) changes, checked at most once per ``check_every`` seconds,
and at once when events name an item the cached catalog does not hold: a shop that uploads
its catalog and then its events (to this process or another) has them counted with the
items' attributes, not against a catalog read a moment before.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Sequence

import polars as pl

from tastemaker.storage.base import Store

PRICE_BAND = "price_band"


def band_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the price bands cut at ``edges``: ``0-1000``, ..., ``30000+``."""
    cuts = [0.0, *sorted(edges)]
    labels = [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(cuts)]
    return [*labels, f"{cuts[-1]:g}+"]


def price_band_expr(edges: Sequence[float], column: str = "price") -> pl.Expr:
    """Expression mapping a price to its band label (null price -> null)."""
    edges = sorted(edges)
    labels = band_labels(edges)
    expr = pl.lit(labels[-1])
    for edge, label in reversed(list(zip(edges, labels[:-1], strict=True))):
        expr = pl.when(pl.col(column) < edge).then(pl.lit(label)).otherwise(expr)
    return pl.when(pl.col(column).is_null()).then(None).otherwise(expr)


def with_attributes(
    items: pl.DataFrame, attributes: Sequence[str], edges: Sequence[float]
) -> pl.DataFrame:
    """Add the price band and make every configured attribute a text column (null if absent)."""
    frame = items
    if "price" in frame.columns:
        frame = frame.with_columns(price_band_expr(edges).alias(PRICE_BAND))
    cols = []
    for a in attributes:
        if a in frame.columns:
            cols.append(pl.col(a).cast(pl.String).alias(a))
        else:
            cols.append(pl.lit(None, dtype=pl.String).alias(a))
    return frame.with_columns(cols)


class CatalogCache:
    """Items with derived attributes, refreshed when the catalog changes.

    Args:
        store: where items live.
        attributes: attribute columns profiles count (``price_band`` is derived).
        price_bands: price band edges.
        check_every: seconds between two fingerprint checks.
    """

    def __init__(
        self,
        store: Store,
        attributes: Sequence[str],
        price_bands: Sequence[float],
        check_every: float = 1.0,
    ) -> None:
        self.store = store
        self.attributes = list(attributes)
        self.price_bands = list(price_bands)
        self.check_every = check_every
        self._lock = threading.Lock()
        self._version: str | None = None
        self._checked = 0.0
        self._items = pl.DataFrame()
        self._attrs = pl.DataFrame(schema={"item_id": pl.String})
        self.generation = 0
        self._map: dict[str, tuple[str | None, ...]] = {}
        self._map_generation = -1

    def _refresh(self, force: bool = False, check_now: bool = False) -> None:
        now = time.monotonic()
        fresh = not check_now and now - self._checked < self.check_every
        if not force and self._version is not None and fresh:
            return
        with self._lock:
            if not force and self._version is not None and fresh:
                return
            version = self.store.items_version()
            self._checked = now
            if version == self._version and not force:
                return
            items = with_attributes(self.store.items(), self.attributes, self.price_bands)
            self._items = items
            self._attrs = items.select("item_id", *self.attributes)
            self._version = version
            self.generation += 1

    def items(self) -> pl.DataFrame:
        """Every item with its derived attribute columns."""
        self._refresh()
        return self._items

    def attribute_table(self) -> pl.DataFrame:
        """``item_id`` plus one text column per configured attribute."""
        self._refresh()
        return self._attrs

    def attribute_map(self, wanted: Iterable[str | None] = ()) -> dict[str, tuple[str | None, ...]]:
        """item_id -> attribute values (in ``attributes`` order), built once per catalog;
        re-checked at once when an item of ``wanted`` (the ids a batch of events names) is
        missing (one cheap fingerprint query, and only for batches naming unknown items)."""
        self._refresh()
        self._build_map()
        if any(i is not None and i not in self._map for i in wanted):
            self._refresh(check_now=True)
            self._build_map()
        return self._map

    def _build_map(self) -> None:
        if self._map_generation != self.generation:
            table = self._attrs
            ids = table["item_id"].to_list()
            values = zip(*(table[a].to_list() for a in self.attributes), strict=True)
            self._map = dict(zip(ids, values, strict=True))
            self._map_generation = self.generation

    def version(self) -> str | None:
        """The store's catalog fingerprint the cached catalog was read at (checked at most
        every ``check_every`` seconds): it changes when the catalog changed."""
        self._refresh()
        return self._version

    def invalidate(self) -> None:
        """Force a reload on next use (after an item upsert in this process)."""
        self._version = None
