"""ItemTable: catalog columns as arrays aligned to model item indices."""

from __future__ import annotations

import numpy as np
import polars as pl

from tastemaker.models.vocab import Vocabulary
from tastemaker.retrieval.itemtable import ItemTable


def test_catalog_only_items_are_appended_after_model_items(table: ItemTable) -> None:
    assert table.n_model == 5
    assert list(table.vocab.ids) == ["a", "b", "c", "d", "e", "f"]
    assert table.in_stock.tolist() == [True, True, False, True, True, True]
    assert table.label("fuel_type", 5) == "electric"
    assert table.numeric["price"][3] == 9_000.0
    assert table.titles[2] == "c"  # no title: the id stands in


def test_model_items_missing_from_catalog_are_marked(catalog: pl.DataFrame) -> None:
    t = ItemTable.build(catalog, Vocabulary(["gone", "a"]))
    assert t.in_catalog.tolist()[:2] == [False, True]
    assert not t.in_stock[0]


def test_new_items_are_relative_to_the_newest(table: ItemTable) -> None:
    assert np.flatnonzero(table.is_new(14)).tolist() == [5]
    assert table.is_new(1000).all()
