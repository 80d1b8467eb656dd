"""A PostgreSQL outage (issue #12 point 10): ingestion answers JSON 503 with Retry-After, reads
answer their non-personalized fallback, nothing resets; the service recovers by itself.

The test runs its own PostgreSQL server (never the shared one) and stops it mid-test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tastemaker.bench.chaos_backends import ThrowawayPostgres
from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration


def _event(event_id: str, user: str = "alice", item: str = "car1") -> dict[str, str]:
    return {
        "event_id": event_id,
        "user_id": user,
        "type": "view",
        "item_id": item,
        "timestamp": "2026-01-01T10:00:00Z",
    }


def _assert_unavailable(answer: object) -> None:
    assert answer.status_code == 503, answer.text  # type: ignore[attr-defined]
    assert int(answer.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert answer.json()["error"] == "StoreUnavailableError"  # type: ignore[attr-defined]


def test_an_outage_answers_503_or_a_fallback_and_recovers(
    throwaway_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    ws = Workspace.init(tmp_path / "ws", database_url=throwaway_postgres.url)
    try:
        # a workspace made by init answers requests without a key from loopback: call as one
        local = ("127.0.0.1", 50000)
        with TestClient(create_app(ws), raise_server_exceptions=False, client=local) as client:
            items = [{"item_id": f"car{i}", "category": "car"} for i in range(5)]
            assert client.put("/v1/items", json=items).json()["accepted"] == 5
            events = [_event(f"e{i}", item=f"car{i % 5}") for i in range(20)]
            assert client.post("/v1/events", json=events).json()["accepted"] == 20
            assert client.get("/v1/featured", params={"user_id": "alice"}).status_code == 200
            assert client.get("/v1/recommendations/alice").status_code == 200

            throwaway_postgres.stop()
            _assert_unavailable(client.post("/v1/events", json=[_event("down1")]))
            _assert_unavailable(client.put("/v1/items", json=[{"item_id": "car9"}]))
            _assert_unavailable(client.patch("/v1/items", json=[{"item_id": "car9"}]))
            _assert_unavailable(client.get("/v1/users/nobody-yet/profile"))
            ws.profiles.catalog.invalidate()  # the next featured listing must read the store
            featured = client.get("/v1/featured", params={"user_id": "bob"})
            assert featured.status_code == 200
            assert featured.json()["rule"] == "fallback:unavailable"
            cold = client.get("/v1/recommendations/someone-new")
            assert cold.status_code == 200 and cold.json()["cold_start"] is True
            assert client.get("/readyz").status_code == 503

            throwaway_postgres.start()
            again = client.post("/v1/events", json=[_event("up1")])
            assert again.status_code == 200 and again.json()["accepted"] == 1
            assert client.get("/readyz").status_code == 200
    finally:
        ws.close()
