"""The recommendation API as a shop calls it, on a small trained workspace."""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest
from fastapi.testclient import TestClient
from tests.e2e.conftest import LOOPBACK

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.engine.runtime import Engine
from tastemaker.rerank.filters import Filters
from tastemaker.serving import create_app
from tastemaker.serving.responses import FeaturedResponse, ProfileResponse, SegmentsResponse
from tastemaker.training.recommender import registry_of, train_version
from tastemaker.workspace import Workspace

HYBRID = {
    "components": ["itemknn", "als"],
    "weights": [0.5, 0.5],
    "params": {"als": {"factors": 16, "iterations": 8}},
}


ACTIVE: list[str] = []


@pytest.fixture
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, TestClient]]:
    """A trained, promoted workspace and a client of its API (``ACTIVE``: busiest users)."""
    ws = Workspace.init(tmp_path_factory.mktemp("shop") / "ws")
    (ws.root / "recommendations.yaml").write_text("seed: 3\n")
    m = generate_marketplace(users=200, items=400, days=10, seed=2)
    ws.ingestor.ingest_items(m.items, "test")
    ws.ingestor.ingest_users(m.users, "test")
    ws.ingestor.ingest_events(m.events, "test")
    busiest = m.events.filter(pl.col("type") == "view")["user_id"].value_counts(sort=True)
    ACTIVE[:] = busiest["user_id"].drop_nulls().head(10).to_list()
    registry_of(ws).promote(train_version(ws, "hybrid", HYBRID, holdout=0.2).version)
    with TestClient(create_app(ws), client=LOOPBACK) as client:
        yield ws, client
    ws.close()


def _runtime(client: TestClient) -> Engine:
    rt: Engine = client.app.state.engine  # type: ignore[attr-defined]
    return rt


def _stage_count(client: TestClient, stage: str) -> float:
    """How often a pipeline stage ran, from the Prometheus metrics."""
    prefix = f'tastemaker_stage_seconds_count{{stage="{stage}"}} '
    lines = [x for x in client.get("/metrics").text.splitlines() if x.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


def _items(ws: Workspace) -> pl.DataFrame:
    return ws.store.items()


def test_recommendations_for_known_unknown_and_filtered_users(
    shop: tuple[Workspace, TestClient],
) -> None:
    ws, client = shop
    assert client.get("/readyz").json()["model_version"] == "v0001"
    known = client.get(f"/v1/recommendations/{ACTIVE[0]}", params={"k": 12}).json()
    assert known["cold_start"] is False and known["model_version"] == "v0001"
    assert len(known["items"]) == 12 and len({i["item_id"] for i in known["items"]}) == 12
    assert all(i["reason"] for i in known["items"])
    cold = client.get("/v1/recommendations/never-seen-before").json()
    assert cold["cold_start"] is True and len(cold["items"]) == ws.settings.serving.default_k
    electric = client.get(
        f"/v1/recommendations/{ACTIVE[0]}",
        params={"k": 8, "filters": "fuel_type:electric,price<60000"},
    ).json()["items"]
    catalog = _items(ws).filter(pl.col("item_id").is_in([i["item_id"] for i in electric]))
    assert len(electric) > 0 and set(catalog["fuel_type"].to_list()) == {"electric"}
    assert (catalog["price"] < 60000).all() and catalog["in_stock"].all()


def test_error_answers(shop: tuple[Workspace, TestClient]) -> None:
    _, client = shop
    for k in (0, 501, "many"):
        assert client.get("/v1/recommendations/u1", params={"k": k}).status_code == 422
    bad = client.get("/v1/recommendations/u1", params={"filters": "price<cheap"})
    assert bad.status_code == 422 and "price<cheap" in bad.json()["message"]
    unknown = client.get("/v1/recommendations/u1", params={"filters": "wheels:4"})
    assert unknown.status_code == 422 and "unknown field 'wheels'" in unknown.json()["message"]
    missing = client.get("/v1/items/no-such-item/similar")
    assert missing.status_code == 404 and "no-such-item" in missing.json()["message"]
    assert client.get("/v1/items/no-such-item/bought-together").status_code == 404
    assert client.post("/v1/feedback", json={"user_id": "u1", "item_id": "nope"}).status_code == 404
    assert client.post("/v1/feedback", json={"user_id": "u1"}).status_code == 422


def test_profile_segments_and_featured_answers_are_their_documented_models(
    shop: tuple[Workspace, TestClient],
) -> None:
    _, client = shop
    models = {
        f"/v1/users/{ACTIVE[1]}/profile": ProfileResponse,
        f"/v1/users/{ACTIVE[1]}/segments": SegmentsResponse,
        f"/v1/featured?user_id={ACTIVE[1]}": FeaturedResponse,
        "/v1/featured?filters=price<0": FeaturedResponse,  # no item, no impression id
    }
    for url, model in models.items():
        body = client.get(url).json()
        assert model.model_validate(body).model_dump(exclude_unset=True) == body, url
    profile = client.get(f"/v1/users/{ACTIVE[1]}/profile").json()
    assert profile["timeline"] and profile["traits"]["frequency"] > 0
    assert "impression_id" in client.get(f"/v1/featured?user_id={ACTIVE[1]}").json()
    assert "impression_id" not in client.get("/v1/featured?filters=price<0").json()


def test_similar_and_bought_together(shop: tuple[Workspace, TestClient]) -> None:
    ws, client = shop
    item = _items(ws).filter(pl.col("in_stock"))["item_id"][0]
    for path in ("similar", "bought-together"):
        body = client.get(f"/v1/items/{item}/{path}", params={"k": 5}).json()
        ids = [i["item_id"] for i in body["items"]]
        assert 0 < len(ids) <= 5 and item not in ids and len(set(ids)) == len(ids)


def test_five_electric_suv_views_shift_the_next_list(shop: tuple[Workspace, TestClient]) -> None:
    ws, client = shop
    items = _items(ws)
    target = items.filter((pl.col("fuel_type") == "electric") & (pl.col("body_type") == "suv"))
    is_target = set(target["item_id"].to_list())
    before = client.get("/v1/recommendations/visitor-42", params={"k": 10}).json()
    share_before = sum(i["item_id"] in is_target for i in before["items"]) / 10
    now = datetime.now(UTC)
    views = [
        {
            "event_id": f"v{j}",
            "user_id": "visitor-42",
            "type": "view",
            "item_id": iid,
            "value": 40,
            "timestamp": now.isoformat(),
        }
        for j, iid in enumerate(target["item_id"].to_list()[:5])
    ]
    assert client.post("/v1/events", json=views).json()["accepted"] == 5
    after = client.get("/v1/recommendations/visitor-42", params={"k": 10}).json()
    got = [i["item_id"] for i in after["items"]]
    share_after = sum(i in is_target for i in got) / 10
    assert after["cold_start"] is False and before["cold_start"] is True
    assert share_after >= 0.3 and share_after > share_before
    assert not set(got) & {v["item_id"] for v in views}  # already seen
    shown = items.filter(pl.col("item_id").is_in(got))
    assert shown["body_type"].to_list().count("suv") >= 5
    assert shown["fuel_type"].to_list().count("electric") >= 3
    assert any(i["reason"].startswith("because you viewed") for i in after["items"])


def test_not_interested_feedback_removes_the_item_at_once(
    shop: tuple[Workspace, TestClient],
) -> None:
    ws, client = shop
    first = client.get(f"/v1/recommendations/{ACTIVE[1]}", params={"k": 10}).json()["items"]
    victim = first[0]["item_id"]
    answer = client.post(
        "/v1/feedback", json={"user_id": ACTIVE[1], "item_id": victim, "kind": "dont_show_again"}
    )
    assert answer.status_code == 200 and answer.json()["accepted"] is True
    stored = ws.store.events(types=["not_interested"])
    assert stored.filter(pl.col("item_id") == victim).height >= 1
    again = client.get(f"/v1/recommendations/{ACTIVE[1]}", params={"k": 10}).json()["items"]
    assert victim not in [i["item_id"] for i in again]


def test_served_lists_are_logged_as_impressions(shop: tuple[Workspace, TestClient]) -> None:
    ws, client = shop
    body = client.get(f"/v1/recommendations/{ACTIVE[2]}", params={"k": 4}).json()
    rt = _runtime(client)
    rt.sink.flush()
    imp = ws.store.events(types=["impression"]).filter(
        pl.col("context").str.contains(body["request_id"])
    )
    assert imp["item_id"].to_list() == [i["item_id"] for i in body["items"]]
    assert imp["user_id"][0] == ws.pseudonymizer.one(ACTIVE[2])
    assert '"position":1' in imp["context"][0] and '"model_version":"v0001"' in imp["context"][0]


def test_cache_hits_until_the_user_acts_and_metrics_show_it(
    shop: tuple[Workspace, TestClient],
) -> None:
    _, client = shop
    a = client.get(f"/v1/recommendations/{ACTIVE[3]}", params={"k": 5}).json()
    b = client.get(f"/v1/recommendations/{ACTIVE[3]}", params={"k": 5}).json()
    assert a["items"] == b["items"] and a["request_id"] != b["request_id"]
    rt = _runtime(client)
    assert rt.cache.hits == 1
    client.post(
        "/v1/events",
        json=[
            {
                "event_id": "c1",
                "user_id": ACTIVE[3],
                "type": "click",
                "item_id": a["items"][0]["item_id"],
                "timestamp": datetime.now(UTC).isoformat(),
            }
        ],
    )
    client.get(f"/v1/recommendations/{ACTIVE[3]}", params={"k": 5})
    assert rt.cache.hits == 1 and rt.cache.misses >= 2
    text = client.get("/metrics").text
    assert 'tastemaker_requests_total{endpoint="/v1/recommendations/{user_id}"' in text
    assert 'tastemaker_request_seconds_bucket{endpoint="/v1/recommendations/{user_id}"' in text
    assert 'tastemaker_model_version_info{role="active",version="v0001"} 1.0' in text
    assert "tastemaker_cache_hit_rate" in text and 'stage="ann"' in text


def test_another_k_or_filter_for_the_same_user_only_reranks(
    shop: tuple[Workspace, TestClient],
) -> None:
    _, client = shop
    user = ACTIVE[4]
    first = client.get(f"/v1/recommendations/{user}", params={"k": 5}).json()
    rt = _runtime(client)
    hits, misses = rt.users.hits, rt.users.misses
    searched = _stage_count(client, "candidates")
    wider = client.get(f"/v1/recommendations/{user}", params={"k": 8}).json()
    electric = client.get(
        f"/v1/recommendations/{user}", params={"k": 5, "filters": "fuel_type:electric"}
    ).json()
    assert (rt.users.hits, rt.users.misses) == (hits + 2, misses)  # no new profile step
    assert _stage_count(client, "candidates") == searched  # nor candidates, nor scores
    assert len(wider["items"]) == 8 and len(first["items"]) == 5
    ids = [i["item_id"] for i in electric["items"]]
    fuel = dict(_items(shop[0]).select("item_id", "fuel_type").iter_rows())
    assert ids and all(fuel[i] == "electric" for i in ids)
    client.post(
        "/v1/events",
        json=[{"event_id": "k1", "user_id": user, "type": "view", "item_id": ids[0],
               "timestamp": datetime.now(UTC).isoformat()}],
    )  # fmt: skip
    client.get(f"/v1/recommendations/{user}", params={"k": 5})
    assert rt.users.misses == misses + 1  # the user acted: profile and candidates again


def test_an_engine_changes_no_process_wide_state(shop: tuple[Workspace, TestClient]) -> None:
    ws, _ = shop
    gc.unfreeze()
    before = (sys.getswitchinterval(), gc.get_threshold(), gc.isenabled())
    engine = Engine(ws, watch=False)
    try:
        engine.recommend(ACTIVE[0], 5, Filters(), None)
        assert (sys.getswitchinterval(), gc.get_threshold(), gc.isenabled()) == before
        assert gc.get_freeze_count() == 0  # process tuning is the entry points' job
    finally:
        engine.close()


def test_promotion_canary_and_rollback_without_restart(shop: tuple[Workspace, TestClient]) -> None:
    ws, client = shop
    reg = registry_of(ws)
    v2 = train_version(ws, "hybrid", HYBRID, holdout=0).version

    def version_served(expect: str, variant: str) -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            body = client.get(f"/v1/recommendations/{ACTIVE[4]}", params={"k": 3}).json()
            if (body["model_version"], body["variant"]) == (expect, variant):
                return True
            time.sleep(0.2)
        return False

    reg.set_canary(v2, 100)
    assert version_served(v2, "canary")
    reg.set_canary(v2, 0)
    reg.promote(v2)
    assert version_served(v2, "control")
    assert client.get("/readyz").json()["model_version"] == v2
    reg.rollback()
    assert version_served("v0001", "control")


def test_shadow_version_scores_without_being_served(shop: tuple[Workspace, TestClient]) -> None:
    ws, client = shop
    reg = registry_of(ws)
    v2 = train_version(ws, "itemknn", {}, holdout=0).version
    reg.set_shadow(v2)
    log = ws.root / "reports" / f"shadow-{v2}.jsonl"
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and not log.exists():
        body = client.get(f"/v1/recommendations/{ACTIVE[5]}", params={"k": 5}).json()
        assert body["model_version"] == "v0001"  # the shadow is never served
        time.sleep(0.3)
    row = json.loads(log.read_text().splitlines()[0])
    assert row["served_version"] == "v0001" and row["shadow_version"] == v2
    assert len(row["shadow"]) == 5 and 0 <= row["overlap"] <= 1
    assert row["user_key"] == ws.pseudonymizer.one(ACTIVE[5]) and "user_id" not in row


def test_per_list_impressions_and_api_key(shop: tuple[Workspace, TestClient]) -> None:
    ws, _ = shop
    (ws.root / "recommendations.yaml").write_text("seed: 3\nimpressions: per_list\n")
    ws.settings.serving.api_key = "s3cret"
    with TestClient(create_app(ws), client=LOOPBACK) as client:
        denied = client.get(f"/v1/recommendations/{ACTIVE[6]}")
        assert denied.status_code == 401 and "X-API-Key" in denied.json()["message"]
        body = client.get(
            f"/v1/recommendations/{ACTIVE[6]}", params={"k": 3}, headers={"X-API-Key": "s3cret"}
        ).json()
        rt = _runtime(client)
        rt.sink.flush()
    rows = ws.store.events(types=["impression"]).filter(
        pl.col("event_id") == f"imp-{body['request_id']}"
    )
    assert rows.height == 1
    assert json.loads(rows["properties"][0]) == {
        "items": [i["item_id"] for i in body["items"]],
        "positions": [1, 2, 3],
        "scores": [i["score"] for i in body["items"]],  # drift monitoring reads them
    }
