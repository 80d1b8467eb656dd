"""Partial updates (issue #12 point 9): PATCH changes the given fields only; PUT replaces the
whole row (documented); DELETE /v1/items/{id} removes an item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

CAR = {
    "item_id": "i000196",
    "category": "car",
    "brand": "volta",
    "price": 31000,
    "title": "Volta e-SUV",
    "fuel_type": "electric",
    "body_type": "suv",
}


@pytest.fixture
def client(sqlite_workspace: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_workspace)) as c:
        assert c.put("/v1/items", json=[CAR]).json()["accepted"] == 1
        yield c


def _item(ws: Workspace, item_id: str = "i000196") -> dict[str, Any]:
    return ws.store.items([item_id]).row(0, named=True)


def test_patch_changes_only_the_given_fields(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    answer = client.patch("/v1/items", json=[{"item_id": "i000196", "in_stock": False}])
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    item = _item(sqlite_workspace)
    assert item["in_stock"] is False
    assert (item["category"], item["brand"], item["price"], item["title"]) == (
        "car",
        "volta",
        31000.0,
        "Volta e-SUV",
    )
    assert (item["fuel_type"], item["body_type"]) == ("electric", "suv")


def test_patch_null_clears_and_new_attributes_merge(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    patch = {"item_id": "i000196", "price": None, "fuel_type": None, "seats": "7"}
    assert client.patch("/v1/items", json={"items": [patch]}).json()["accepted"] == 1
    item = _item(sqlite_workspace)
    assert item["price"] is None and item.get("fuel_type") is None
    assert (item["seats"], item["body_type"], item["brand"]) == ("7", "suv", "volta")


def test_patch_creates_unknown_ids_and_refuses_bad_rows_alone(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    rows = [{"item_id": "new", "brand": "b"}, {"item_id": "i000196", "price": -1}]
    summary = client.patch("/v1/items", json=rows).json()
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert summary["rejections"][0]["field"] == "price"
    assert _item(sqlite_workspace, "new")["brand"] == "b"
    assert _item(sqlite_workspace)["price"] == 31000.0


def test_put_replaces_the_whole_row(client: TestClient, sqlite_workspace: Workspace) -> None:
    client.put("/v1/items", json=[{"item_id": "i000196", "in_stock": False}])
    item = _item(sqlite_workspace)
    assert (item["category"], item["price"], item.get("fuel_type")) == (None, None, None)
    put = client.get("/openapi.json").json()["paths"]["/v1/items"]["put"]
    assert "replaces the whole stored item" in put["description"]


def test_delete_removes_an_item_and_the_catalog_sees_it(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    before = sqlite_workspace.store.items_version()
    answer = client.delete("/v1/items/i000196")
    assert answer.status_code == 200
    assert answer.json() == {"item_id": "i000196", "deleted": True}
    assert sqlite_workspace.store.items().height == 0
    assert sqlite_workspace.store.items_version() != before
    missing = client.delete("/v1/items/i000196")
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"


def test_patch_users_keeps_other_fields(client: TestClient, sqlite_workspace: Workspace) -> None:
    client.put("/v1/users", json=[{"user_id": "alice", "age_band": "25-34", "city": "Oslo"}])
    summary = client.patch("/v1/users", json=[{"user_id": "alice", "consent": False, "city": None}])
    assert summary.json()["accepted"] == 1
    users = sqlite_workspace.store.users()
    assert users["user_id"].to_list() == [sqlite_workspace.pseudonymizer.one("alice")]
    user = users.row(0, named=True)
    assert (user["consent"], user["age_band"], user.get("city")) == (False, "25-34", None)
