"""A small trained workspace for the registry tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.workspace import Workspace

_HYBRID = {
    "components": ["itemknn", "als"],
    "weights": [0.5, 0.5],
    "params": {"als": {"factors": 16, "iterations": 5}},
}


@pytest.fixture
def hybrid() -> dict[str, object]:
    """Hyperparameters of a small, fast hybrid (item-kNN + ALS, fixed weights)."""
    return dict(_HYBRID)


@pytest.fixture
def market_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace holding a small synthetic marketplace (no model yet)."""
    ws = Workspace.init(tmp_path_factory.mktemp("reg") / "ws")
    m = generate_marketplace(users=120, items=200, days=7, seed=1)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_events(m.events, "test")
    yield ws
    ws.close()
