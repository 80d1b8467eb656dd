"""Routes get the engine, workspace and API-key check through dependencies tests can swap."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tastemaker.engine.featured import FeaturedResult
from tastemaker.engine.served import RelatedList, ServedList
from tastemaker.rerank.filters import Filters
from tastemaker.serving import create_app
from tastemaker.serving.deps import get_engine
from tastemaker.workspace import Workspace


class _FakeEngine:
    """Answers every list with fixed items and records what it was asked."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.asked: list[tuple[str, ...]] = []

    def recommend(self, user_id: str, k: int, filters: Filters, context: str | None) -> ServedList:
        self.asked.append(("recommend", user_id, str(k), filters.key()))
        return ServedList(user_id, "r1", "fake", "control", False, ["x"], [1.0], ["why"], ["ann"])

    def related(self, item_id: str, k: int, kind: str) -> RelatedList:
        self.asked.append(("related", item_id, kind))
        return RelatedList(item_id, "fake", kind, ["y"], [0.5], "because")

    def featured(self, user_id: str | None, anonymous_id: str | None, filters: str | None,
                 variant: str | None = None) -> tuple[FeaturedResult, str | None]:  # fmt: skip
        self.asked.append(("featured", user_id or "", filters or ""))
        return FeaturedResult({"item_id": "z"}, "fallback:random", "test", False), "imp-1"

    def feedback(self, user_id: str, item_id: str, kind: str, request_id: str | None) -> str:
        self.asked.append(("feedback", user_id, item_id, kind))
        return "fb-1"


def test_every_list_route_takes_the_engine_from_the_dependency(
    sqlite_workspace: Workspace,
) -> None:
    app = create_app(sqlite_workspace)
    fake = _FakeEngine(sqlite_workspace)
    app.dependency_overrides[get_engine] = lambda: fake
    with TestClient(app) as client:
        rec = client.get("/v1/recommendations/ann", params={"k": 3, "filters": "brand:x"})
        assert rec.status_code == 200 and rec.json()["items"][0]["item_id"] == "x"
        similar = client.get("/v1/items/i1/similar").json()
        assert similar["items"] == [
            {"item_id": "y", "score": 0.5, "reason": "because", "source": "similar"}
        ]
        featured = client.get("/v1/featured", params={"user_id": "bo"}).json()
        assert featured["item"] == {"item_id": "z"} and featured["impression_id"] == "imp-1"
        body = {"user_id": "bo", "item_id": "i1", "kind": "dont_show_again"}
        assert client.post("/v1/feedback", json=body).json()["event_id"] == "fb-1"
    assert [a[0] for a in fake.asked] == ["recommend", "related", "featured", "feedback"]
    assert getattr(app.state, "engine", None) is None  # the real engine was never built


def test_one_api_key_check_guards_every_route(sqlite_workspace: Workspace) -> None:
    sqlite_workspace.settings.serving.api_key = "s3cret"
    app = create_app(sqlite_workspace)
    fake = _FakeEngine(sqlite_workspace)
    app.dependency_overrides[get_engine] = lambda: fake
    with TestClient(app) as client:
        for path in ("/v1/recommendations/ann", "/v1/items/i1/similar", "/v1/featured"):
            assert client.get(path).status_code == 401
            assert client.get(path, headers={"X-API-Key": "s3cret"}).status_code == 200
        body = {"user_id": "bo", "item_id": "i1"}
        assert client.post("/v1/feedback", json=body).status_code == 401
    assert fake.asked == [("recommend", "ann", "10", ""), ("related", "i1", "similar"),
                          ("featured", "", "")]  # fmt: skip
