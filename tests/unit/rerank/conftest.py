"""A small catalog and context shared by the re-ranking tests."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from tastemaker.models.vocab import Vocabulary
from tastemaker.rerank.context import Exposure, RerankContext
from tastemaker.retrieval.itemtable import ItemTable

DAY = 86_400_000


def make_table(n: int = 12) -> ItemTable:
    """``n`` items i0..: brands cycle a/b/c, fuel electric for even items, the last two new."""
    ids = [f"i{j}" for j in range(n)]
    created = [0] * (n - 2) + [100 * DAY, 101 * DAY]
    frame = pl.DataFrame(
        {
            "item_id": ids,
            "category": ["car" if j % 4 else "van" for j in range(n)],
            "brand": ["abc"[j % 3] for j in range(n)],
            "price": [1000.0 * (j + 1) for j in range(n)],
            "in_stock": [j != 1 for j in range(n)],
            "created_at": [datetime.fromtimestamp(c / 1000, UTC) for c in created],
            "fuel_type": ["electric" if j % 2 == 0 else "petrol" for j in range(n)],
        }
    )
    return ItemTable.build(frame, Vocabulary(ids))


@pytest.fixture
def table() -> ItemTable:
    """Twelve items (see :func:`make_table`)."""
    return make_table()


@pytest.fixture
def ctx(table: ItemTable) -> RerankContext:
    """A request for 5 items with no exclusions."""
    return RerankContext(
        k=5, table=table, exposure=Exposure.zeros(len(table)), rng=np.random.default_rng(0)
    )
