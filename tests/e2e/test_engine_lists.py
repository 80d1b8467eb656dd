"""Both served lists come from one engine: they agree on hard filters and feedback, and the
segment attributes are the shop's own (any catalog, not only vehicles)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import yaml
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.config import load_pipeline_config
from tastemaker.engine.runtime import Engine
from tastemaker.rerank.filters import Filters, parse_filters
from tastemaker.serving import create_app
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

FILTERS = ["fuel_type:electric", "body_type:suv|hatchback", "price<30000", ""]


@pytest.fixture
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, TestClient, str]]:
    """A trained workspace, its API, and a user with segments."""
    ws = Workspace.init(tmp_path_factory.mktemp("lists") / "ws")
    m = generate_marketplace(users=150, items=300, days=10, seed=4)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(m.users, "test")
    ws.ingestor.ingest_events(m.events, "test")
    registry_of(ws).promote(train_version(ws, "itemknn", {}, holdout=0).version)
    views = m.events.filter(pl.col("type") == "view")["user_id"].value_counts(sort=True)
    with TestClient(create_app(ws), client=LOOPBACK) as client:
        yield ws, client, str(views["user_id"][0])
    ws.close()


def _in_stock(ws: Workspace) -> pl.DataFrame:
    return ws.store.items().filter(pl.col("in_stock"))


def _allowed(ws: Workspace, filters: str) -> set[str]:
    """Independent reference: in-stock catalog rows that pass the filter, by polars."""
    items = _in_stock(ws)
    return set(items.filter(parse_filters(filters).expr())["item_id"])


def test_both_lists_honour_the_hard_filters_and_dont_show_again(
    shop: tuple[Workspace, TestClient, str],
) -> None:
    ws, client, user = shop
    refused: set[str] = set()
    for filters in FILTERS:
        params = {"user_id": user, "filters": filters} if filters else {"user_id": user}
        featured = client.get("/v1/featured", params=params).json()["item"]
        assert featured is not None
        rec = client.get(f"/v1/recommendations/{user}", params={"k": 20, "filters": filters})
        listed = [i["item_id"] for i in rec.json()["items"]]
        allowed = _allowed(ws, filters)
        assert featured["item_id"] in allowed and set(listed) <= allowed
        # the user refuses the featured item: neither list shows it again
        body = {"user_id": user, "item_id": featured["item_id"], "kind": "dont_show_again"}
        assert client.post("/v1/feedback", json=body).status_code == 200
        refused.add(featured["item_id"])
        for _ in range(3):
            again = client.get("/v1/featured", params=params).json()["item"]
            assert again is None or again["item_id"] not in refused
            rec = client.get(f"/v1/recommendations/{user}", params={"k": 20, "filters": filters})
            assert not refused & {i["item_id"] for i in rec.json()["items"]}


def test_a_purchase_leaves_both_lists(shop: tuple[Workspace, TestClient, str]) -> None:
    _, client, user = shop
    featured = client.get("/v1/featured", params={"user_id": user}).json()["item"]
    now = datetime.now(UTC).isoformat()
    bought = {"event_id": "buy-1", "user_id": user, "type": "purchase",
              "item_id": featured["item_id"], "timestamp": now}  # fmt: skip
    assert client.post("/v1/events", json=[bought]).json()["accepted"] == 1
    again = client.get("/v1/featured", params={"user_id": user}).json()["item"]
    assert again["item_id"] != featured["item_id"]
    rec = client.get(f"/v1/recommendations/{user}", params={"k": 50}).json()
    assert featured["item_id"] not in {i["item_id"] for i in rec["items"]}


def _music_shop(root: str) -> Workspace:
    """A record shop: items have a genre and a format, nothing about vehicles."""
    ws = Workspace.init(root)
    cfg = yaml.safe_load((ws.root / "tastemaker.yaml").read_text()) or {}
    cfg.setdefault("profiles", {})["attributes"] = ["genre", "format"]
    (ws.root / "tastemaker.yaml").write_text(yaml.safe_dump(cfg))
    rules = {"segments": {"jazz": {"attribute": "genre", "value": "jazz"},
                          "vinyl": {"attribute": "format", "value": "vinyl"}}}  # fmt: skip
    (ws.root / "segments.yaml").write_text(yaml.safe_dump(rules))
    ws.close()
    return Workspace.open(root)


def test_a_shop_with_its_own_segment_attributes_gets_segment_candidates(tmp_path: object) -> None:
    ws = _music_shop(str(tmp_path) + "/music")
    rng = np.random.default_rng(0)
    n = 120
    genres = np.array(["jazz", "rock", "folk"])[np.arange(n) % 3]
    items = pl.DataFrame({
        "item_id": [f"r{i:03d}" for i in range(n)], "title": [f"Record {i}" for i in range(n)],
        "genre": genres.tolist(), "format": np.array(["vinyl", "cd"])[np.arange(n) % 2].tolist(),
        "in_stock": [True] * n,
    })  # fmt: skip
    ws.ingestor.ingest_items(items, "test")
    start = datetime.now(UTC) - timedelta(days=3)
    rows = []
    for u in range(40):  # every user listens to a bit of everything
        for j, item in enumerate(rng.choice(n, 12, replace=False)):
            rows.append(
                (f"e{u}-{j}", f"u{u}", "view", f"r{item:03d}", start + timedelta(minutes=j))
            )
    for j in range(6):  # the jazz fan: only jazz, lately
        rows.append(
            (f"fan-{j}", "fan", "view", f"r{3 * j:03d}", start + timedelta(days=2, minutes=j))
        )
    events = pl.DataFrame(rows, schema=["event_id", "user_id", "type", "item_id", "timestamp"],
                          orient="row")  # fmt: skip
    ws.ingestor.ingest_events(events, "test")
    registry_of(ws).promote(train_version(ws, "popularity", {}, holdout=0).version)
    engine = Engine(ws, watch=False)
    try:
        v = engine.active
        user = engine.pipeline.profile(v, ws.pseudonymizer.one("fan"))
        assert [s.label for s in user.query.segments][:1] == ["jazz"]
        assert user.affinity  # the affinity boost reads the shop's own attributes
        served = engine.recommend("fan", 10, Filters(), None)
        assert any(r == "popular in jazz" for r in served.reasons)
        jazz = set(items.filter(pl.col("genre") == "jazz")["item_id"])
        assert sum(i in jazz for i in served.item_ids) >= 6  # pulled toward the fan's genre
    finally:
        engine.close()
        ws.close()


def test_item_tables_are_rebuilt_only_after_a_catalog_change(
    shop: tuple[Workspace, TestClient, str],
) -> None:
    shop_ws, _, _ = shop
    ws = Workspace.open(shop_ws.root)  # as a fresh server process: nothing loaded yet
    config = load_pipeline_config(ws.root).model_copy(update={"catalog_change_seconds": 0.01})
    engine = Engine(ws, config=config, watch=False)
    try:
        table = engine.active.table
        ws.profiles.catalog.attribute_map()  # the profile catalog's first load is no change
        time.sleep(0.05)
        assert engine.refresh() is False and engine.active.table is table
        item = ws.store.items().row(0, named=True)["item_id"]
        ws.ingestor.ingest_items(pl.DataFrame({"item_id": [item], "in_stock": [False]}), "test")
        ws.profiles.catalog.invalidate()
        time.sleep(1.1)  # the catalog fingerprint is checked at most once a second
        assert engine.refresh() is True
        idx = engine.active.table.vocab.index_of(item)
        assert not engine.active.table.in_stock[idx]
    finally:
        engine.close()
        ws.close()
