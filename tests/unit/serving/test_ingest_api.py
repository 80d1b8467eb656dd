"""REST ingestion: batches are accepted event by event; refusals name index, field and reason."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tastemaker.serving import create_app
from tastemaker.workspace import Workspace


def _client(ws: Workspace) -> TestClient:
    return TestClient(create_app(ws))


def test_post_events_accepts_good_and_reports_bad(sqlite_workspace: Workspace) -> None:
    client = _client(sqlite_workspace)
    batch = [
        {
            "event_id": "e1",
            "user_id": "alice",
            "type": "view",
            "item_id": "car1",
            "value": 4.2,
            "timestamp": "2026-01-01T10:00:00Z",
            "context": {"device": "mobile", "position": 2},
        },
        {
            "event_id": "e2",
            "user_id": "alice",
            "type": "warp",
            "item_id": "car1",
            "timestamp": "2026-01-01T10:00:00Z",
        },
        {
            "event_id": "e1",
            "user_id": "alice",
            "type": "view",
            "item_id": "car1",
            "timestamp": "2026-01-01T10:00:00Z",
        },
        {
            "event_id": "e3",
            "user_id": "bob",
            "type": "rating",
            "item_id": "car2",
            "value": 5,
            "timestamp": 1767261600,
        },
    ]
    response = client.post("/v1/events", json={"events": batch})
    assert response.status_code == 200
    body = response.json()
    assert (body["received"], body["accepted"], body["duplicates"], body["rejected"]) == (
        4,
        2,
        1,
        1,
    )
    assert body["rejections"] == [
        {"index": 1, "field": "type", "event_id": "e2", "reason": body["rejections"][0]["reason"]}
    ]
    assert "'warp' is not a known event type" in body["rejections"][0]["reason"]
    stored = sqlite_workspace.store.events()
    assert sorted(stored["event_id"].to_list()) == ["e1", "e3"]
    e1 = stored.filter(stored["event_id"] == "e1").row(0, named=True)
    assert e1["context"] == '{"device":"mobile","position":2}'
    # Same event again, through the API: still stored once.
    again = client.post("/v1/events", json=batch[:1]).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)


def test_batch_over_the_limit_and_bad_json_are_refused(sqlite_workspace: Workspace) -> None:
    client = _client(sqlite_workspace)
    too_many = [{"event_id": str(i)} for i in range(1001)]
    response = client.post("/v1/events", json=too_many)
    assert response.status_code == 422 and "at most 1000" in response.json()["message"]
    broken = client.post(
        "/v1/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422 and "not valid JSON" in broken.json()["message"]
    wrong_shape = client.post("/v1/events", json=[1, 2])
    assert wrong_shape.status_code == 422 and "events[0]" in wrong_shape.json()["message"]


def test_put_items_and_users(sqlite_workspace: Workspace) -> None:
    client = _client(sqlite_workspace)
    items = client.put(
        "/v1/items",
        json=[
            {
                "item_id": "car1",
                "category": "car",
                "price": 30000,
                "fuel_type": "electric",
                "in_stock": True,
            },
            {"item_id": "car2", "price": -5},
        ],
    ).json()
    assert (items["accepted"], items["rejected"]) == (1, 1)
    assert "field 'price'" in items["rejections"][0]["reason"]
    stored = sqlite_workspace.store.items()
    assert stored.row(0, named=True)["fuel_type"] == "electric"
    users = client.put(
        "/v1/users", json={"users": [{"user_id": "alice", "age_band": "25-34"}]}
    ).json()
    assert users["accepted"] == 1
    assert sqlite_workspace.store.users()["user_id"].to_list() == [
        sqlite_workspace.pseudonymizer.one("alice")
    ]


def test_health_and_docs(sqlite_workspace: Workspace) -> None:
    client = _client(sqlite_workspace)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    schema = client.get("/openapi.json").json()
    assert "/v1/events" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_api_key_is_enforced_when_configured(sqlite_workspace: Workspace) -> None:
    sqlite_workspace.settings.serving.api_key = "s3cret"
    client = _client(sqlite_workspace)
    assert client.post("/v1/events", json=[]).status_code == 401
    ok = client.post("/v1/events", json=[], headers={"X-API-Key": "s3cret"})
    assert ok.status_code == 200


@pytest.mark.parametrize("name", ["_row", "_reason", "*", "^a.*$"])
def test_reserved_field_names_refuse_their_row_not_the_batch(
    sqlite_workspace: Workspace, name: str
) -> None:
    """Issue #12 point 12: one row with a reserved key used to refuse the whole batch."""
    client = _client(sqlite_workspace)
    event = {"user_id": "u", "type": "view", "item_id": "i", "timestamp": "2026-01-01"}
    bodies = {
        "/v1/users": [{"user_id": "ok"}, {"user_id": "x", name: 1}],
        "/v1/items": [{"item_id": "ok"}, {"item_id": "x", name: 1}],
        "/v1/events": [{**event, "event_id": "ok"}, {**event, "event_id": "x", name: 1}],
    }
    for path, body in bodies.items():
        send = client.post if path == "/v1/events" else client.put
        answer = send(path, json=body)
        assert answer.status_code == 200, answer.text
        summary = answer.json()
        assert (summary["accepted"], summary["rejected"]) == (1, 1)
        refusal = summary["rejections"][0]
        assert (refusal["index"], refusal["field"]) == (1, name)
        assert refusal["reason"].startswith(f"field '{name}': ")
        assert "rename the field" in refusal["reason"]
    assert sqlite_workspace.store.items()["item_id"].to_list() == ["ok"]
    assert sqlite_workspace.store.events()["event_id"].to_list() == ["ok"]


def test_parameter_errors_use_the_common_error_shape(sqlite_workspace: Workspace) -> None:
    client = _client(sqlite_workspace)
    response = client.get("/v1/recommendations/alice", params={"k": 0})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationFailedError"
    assert "k" in body["message"] and "greater than or equal to 1" in body["message"]
