"""Access control over HTTP, as a shop's clients meet it: scoped keys, 401 / 403 / 429, the
open endpoints, the audit log of admin actions (refusals included), revocation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tastemaker.access import AuditLog, KeyRing
from tastemaker.access import keys as keys_module
from tastemaker.config import RateLimit
from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

ITEMS = {"items": [{"item_id": "car-1", "category": "cars"}, {"item_id": "car-2"}]}


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Workspace, TestClient, dict[str, str]]]:
    """A workspace that refuses requests without a key, with one key per scope."""
    ws = Workspace.init(tmp_path / "ws", allow_anonymous="never")
    ring = KeyRing(ws.store, ws.root)
    keys = {s: ring.create(f"{s}-client", [s]).token for s in ("ingest", "read", "admin")}
    with TestClient(create_app(ws)) as client:
        yield ws, client, keys
    ws.close()


def _key(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


def test_no_key_is_401_with_a_clear_error_body(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    _, client, _ = shop
    for method, path in [("GET", "/v1/recommendations/ann"), ("PUT", "/v1/items"),
                         ("GET", "/v1/featured"), ("DELETE", "/v1/items/car-1")]:  # fmt: skip
        answer = client.request(method, path)
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "AuthError"
        assert "X-API-Key" in answer.json()["message"]


def test_each_scope_opens_its_routes_only(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    _, client, keys = shop
    assert client.put("/v1/items", json=ITEMS, headers=_key(keys["ingest"])).status_code == 200
    refused = client.put("/v1/items", json=ITEMS, headers=_key(keys["read"]))
    assert refused.status_code == 403 and refused.json()["error"] == "ForbiddenError"
    assert "lacks scope 'ingest'" in refused.json()["message"]
    assert client.get("/v1/items/car-1/similar", headers=_key(keys["ingest"])).status_code == 403
    bearer = {"Authorization": f"Bearer {keys['read']}"}
    assert client.get("/v1/recommendations/ann", headers=bearer).status_code == 200
    for token in (keys["read"], keys["admin"]):  # admin covers everything
        assert client.get("/v1/recommendations/ann", headers=_key(token)).status_code == 200
        assert client.get("/v1/recommendations/ann", headers=_key(token)).status_code == 200
    assert client.put("/v1/items", json=ITEMS, headers=_key(keys["admin"])).status_code == 200


def test_admin_actions_are_audited_refusals_included(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    ws, client, keys = shop
    client.put("/v1/items", json=ITEMS, headers=_key(keys["admin"]))
    assert client.delete("/v1/items/car-1", headers=_key(keys["ingest"])).status_code == 403
    assert client.delete("/v1/items/car-1").status_code == 401
    assert client.delete("/v1/items/car-1", headers=_key(keys["admin"])).status_code == 200
    assert client.delete("/v1/items/nope", headers=_key(keys["admin"])).status_code == 404
    rows = AuditLog(ws.store).entries()
    assert [(r.action, r.target, r.outcome) for r in rows] == [
        ("DELETE /v1/items/{item_id}", "car-1", "refused"),
        ("DELETE /v1/items/{item_id}", "car-1", "refused"),
        ("DELETE /v1/items/{item_id}", "car-1", "ok"),
        ("DELETE /v1/items/{item_id}", "nope", "error"),
    ]
    admin_id = keys["admin"].split("_")[1]
    assert rows[0].actor.startswith(f"key:{keys['ingest'].split('_')[1]}@")
    assert rows[1].actor == "anonymous@testclient"
    assert rows[2].actor == f"key:{admin_id} (admin-client)"


def test_a_revoked_key_is_refused_within_the_cache_time(
    shop: tuple[Workspace, TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, client, keys = shop
    clock = [1000.0]
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: clock[0])
    path, headers = "/v1/featured", _key(keys["read"])
    assert client.get(path, headers=headers).status_code == 200
    KeyRing(ws.store, ws.root).revoke(keys["read"].split("_")[1])  # `tastemaker keys revoke`
    clock[0] += ws.settings.serving.key_cache_seconds + 0.01
    assert client.get(path, headers=headers).status_code == 401
    assert client.get("/v1/recommendations/ann", headers=headers).status_code == 401


def test_the_recommendation_shortcut_makes_the_same_check(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    _, client, keys = shop
    first = client.get("/v1/recommendations/ann", headers=_key(keys["read"]))
    assert first.status_code == 200  # loads the engine: the shortcut answers from now on
    for token, status in [(keys["read"], 200), (keys["admin"], 200), (keys["ingest"], 403),
                          ("tm_0123456789ab_guess", 401), ("", 401)]:  # fmt: skip
        answer = client.get("/v1/recommendations/ann", headers=_key(token) if token else {})
        assert answer.status_code == status, token


def test_a_key_over_its_rate_limit_gets_429(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    ws, client, keys = shop
    ws.settings.serving.rate_limits["read"] = RateLimit(per_second=0.01, burst=3)
    answers = [client.get("/v1/featured", headers=_key(keys["read"])) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"] == "RateLimitedError"
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert client.get("/v1/featured", headers=_key(keys["admin"])).status_code == 200


def test_metrics_and_docs_follow_open_endpoints(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    ws, client, keys = shop
    local = TestClient(client.app, client=("127.0.0.1", 50000))
    for path in ("/metrics", "/openapi.json", "/docs"):
        assert local.get(path).status_code == 200, path  # loopback: open by default
        assert client.get(path).status_code == 401, path  # another host: a key
        assert client.get(path, headers=_key(keys["read"])).status_code == 200, path
    ws.settings.serving.open_endpoints = "never"
    assert local.get("/metrics").status_code == 401
    assert local.get("/metrics", headers=_key(keys["ingest"])).status_code == 403
    assert local.get("/metrics", headers=_key(keys["read"])).status_code == 200
    ws.settings.serving.open_endpoints = "always"
    assert client.get("/metrics").status_code == 200


def test_openapi_declares_the_key_schemes_and_each_route_scope(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    _, client, keys = shop
    spec = client.get("/openapi.json", headers=_key(keys["read"])).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                       "description": "an API key: tm_<id>_<secret>"}  # fmt: skip
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    paths = spec["paths"]
    assert "**Scope:** `read`" in paths["/v1/recommendations/{user_id}"]["get"]["description"]
    assert "**Scope:** `ingest`" in paths["/v1/events"]["post"]["description"]
    assert "**Scope:** `admin`" in paths["/v1/items/{item_id}"]["delete"]["description"]
    assert {"APIKeyHeader": []} in paths["/v1/events"]["post"]["security"]
    assert set(paths["/v1/events"]["post"]["responses"]) >= {"401", "403", "429"}


def test_the_secret_never_reaches_the_log(
    shop: tuple[Workspace, TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    _, client, keys = shop
    caplog.set_level(logging.DEBUG)
    client.get("/v1/recommendations/ann", headers=_key(keys["read"]))
    client.put("/v1/items", json=ITEMS, headers=_key(keys["read"]))
    secrets = [t.split("_", 2)[2] for t in keys.values()]
    assert not any(s in caplog.text for s in secrets)


def test_a_long_query_string_is_refused_with_the_limit_named(
    shop: tuple[Workspace, TestClient, dict[str, str]],
) -> None:
    ws, client, keys = shop
    ws.settings.serving.max_query_bytes = 256
    long = "brand:" + "x" * 300
    for path in ("/v1/featured", "/v1/recommendations/ann", "/v1/items/car-1/similar"):
        answer = client.get(path, params={"filters": long}, headers=_key(keys["read"]))
        assert answer.status_code == 422, path
        assert "serving.max_query_bytes" in answer.json()["message"]
    assert client.get("/v1/featured", headers=_key(keys["read"])).status_code == 200
