"""A tiny catalog shared by the retrieval tests."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from tastemaker.models.vocab import Vocabulary
from tastemaker.retrieval.itemtable import ItemTable


@pytest.fixture
def catalog() -> pl.DataFrame:
    """Six items: three electric SUVs, two petrol hatchbacks, one new electric SUV."""
    day = 86_400_000
    return pl.DataFrame(
        {
            "item_id": ["a", "b", "c", "d", "e", "f"],
            "category": ["car"] * 6,
            "brand": ["x", "x", "y", "y", "z", "z"],
            "price": [30_000.0, 25_000.0, 40_000.0, 9_000.0, 12_000.0, 35_000.0],
            "title": ["Alpha", "Beta", None, "Delta", "Echo", "Foxtrot"],
            "in_stock": [True, True, False, True, True, True],
            "created_at": [
                datetime.fromtimestamp(t / 1000, UTC)
                for t in (0, day, 2 * day, 3 * day, 4 * day, 100 * day)
            ],
            "fuel_type": ["electric", "electric", "electric", "petrol", "petrol", "electric"],
            "body_type": ["suv", "suv", "suv", "hatchback", "hatchback", "suv"],
        }
    )


@pytest.fixture
def table(catalog: pl.DataFrame) -> ItemTable:
    """The catalog aligned to a model that knows a..e (f is catalog-only)."""
    return ItemTable.build(catalog, Vocabulary(["a", "b", "c", "d", "e"]))
