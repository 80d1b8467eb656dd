"""Profile, segment and featured endpoints over HTTP (embedded, in-process updates)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import polars as pl
import pytest
from fastapi.testclient import TestClient
from profile_helpers import ITEMS

from tastemaker.serving import create_app
from tastemaker.workspace import Workspace


@pytest.fixture
def client(sqlite_workspace: Workspace) -> TestClient:
    sqlite_workspace.ingestor.ingest_items(ITEMS, "test")
    return TestClient(create_app(sqlite_workspace))


def _browse(client: TestClient, user: str, items: list[str]) -> None:
    now = datetime.now(UTC)
    batch = [
        {"event_id": f"{user}-{i}", "user_id": user, "type": "view", "item_id": item,
         "value": 20, "timestamp": now.isoformat(), "session_id": f"{user}-s"}
        for i, item in enumerate(items)
    ]  # fmt: skip
    assert client.post("/v1/events", json=batch).json()["accepted"] == len(items)


def test_a_user_browsing_electric_suvs_is_in_both_segments_on_the_next_read(
    client: TestClient,
) -> None:
    # speed is measured by `tastemaker bench profiles`, never asserted in a test
    _browse(client, "synthetic-1", ["ev_suv1", "ev_suv2", "ev_suv1", "h_suv"])
    body = client.get("/v1/users/synthetic-1/segments").json()
    assert {"electric", "suv"} <= set(body["segments"])
    assert body["segments"]["suv"] == 1.0 and body["segments"]["electric"] == 0.75


def test_profile_endpoint_and_unknown_user(client: TestClient) -> None:
    _browse(client, "p1", ["d_sedan", "d_suv", "d_sedan"])
    profile = client.get("/v1/users/p1/profile").json()
    assert profile["shares"]["fuel_type"] == {"diesel": 1.0}
    assert profile["traits"]["frequency"] == 3 and profile["traits"]["sessions"] == 1
    assert [e["item_id"] for e in profile["timeline"]] == ["d_sedan", "d_suv", "d_sedan"]
    missing = client.get("/v1/users/nobody/profile")
    assert missing.status_code == 404 and missing.json()["error"] == "NotFoundError"


def test_featured_follows_segments_and_logs_an_impression(
    client: TestClient, sqlite_workspace: Workspace
) -> None:
    _browse(client, "f1", ["ev_suv1", "ev_suv2", "ev_suv1"])
    got = client.get("/v1/featured", params={"user_id": "f1", "filters": "price<40000",
                                              "variant": "B"}).json()  # fmt: skip
    assert got["item"]["item_id"] == "ev_suv2"  # the only electric SUV under 40,000
    assert got["rule"].startswith("segments:") and "electric" in got["rule"]
    client.app.state.engine.sink.flush()  # type: ignore[attr-defined]
    imps = sqlite_workspace.store.events(types=["impression"])
    assert imps.height == 1 and imps["item_id"][0] == "ev_suv2"
    context = orjson.loads(imps["context"][0])
    assert context["rule"] == got["rule"] and context["variant"] == "B"
    assert imps["user_id"][0] == sqlite_workspace.pseudonymizer.one("f1")
    assert sqlite_workspace.profiles.get(imps["user_id"][0]).traits["frequency"] == 3  # type: ignore[union-attr]


def test_featured_fallback_and_bad_filters(client: TestClient) -> None:
    got = client.get("/v1/featured", params={"user_id": "stranger", "filters": "body_type:suv"})
    body = got.json()
    assert got.status_code == 200 and body["rule"] == "fallback:random"
    assert body["reason"] == "unknown user" and body["item"]["body_type"] == "suv"
    bad = client.get("/v1/featured", params={"filters": "price<<3"})
    assert bad.status_code == 422 and "price<<3" in bad.json()["message"]
    none = client.get("/v1/featured", params={"filters": "price>1000000"}).json()
    assert none["item"] is None and none["rule"] == "none"


def test_items_frame_is_reused_for_featured(sqlite_workspace: Workspace) -> None:
    # the catalog is read once, not per request
    client = TestClient(create_app(sqlite_workspace))
    sqlite_workspace.ingestor.ingest_items(ITEMS, "test")
    calls = {"n": 0}
    original = sqlite_workspace.store.items

    def counting(*a: object, **k: object) -> pl.DataFrame:
        calls["n"] += 1
        return original()

    sqlite_workspace.store.items = counting  # type: ignore[method-assign]
    assert client.get("/v1/featured").status_code == 200  # loads the engine: reads the catalog
    first = calls["n"]
    for _ in range(5):
        assert client.get("/v1/featured").status_code == 200
    assert calls["n"] == first
