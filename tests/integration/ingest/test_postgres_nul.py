"""NUL bytes on PostgreSQL (issue #12 point 7): PostgreSQL text cannot hold them, so such rows
are refused one by one (and dead-lettered readably) instead of failing their request and
the requests stored in the same group."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tastemaker.serving import create_app
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration


def _event(event_id: str, **fields: str) -> dict[str, Any]:
    event = {"event_id": event_id, "user_id": "u", "type": "view", "item_id": "i"}
    return {**event, "timestamp": "2026-01-01", "session_id": "s", **fields}


def test_nul_rows_are_refused_alone_among_concurrent_requests(
    postgres_workspace: Workspace,
) -> None:
    ws = postgres_workspace
    app = create_app(ws)
    hostile = [
        [_event("n1\x00"), _event("ok-n1")],
        [_event("n2", item_id="i\x00"), _event("ok-n2")],
        [_event("n3", session_id="\x00"), _event("ok-n3")],
    ]
    valid = [[_event(f"v{r}-{i}") for i in range(5)] for r in range(30)]

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            sends = [client.post("/v1/events", json=body) for body in [*hostile, *valid]]
            return await asyncio.gather(*sends)

    answers = asyncio.run(main())
    assert [a.status_code for a in answers] == [200] * len(answers)
    for answer, field in zip(answers[:3], ["event_id", "item_id", "session_id"], strict=True):
        (refusal,) = answer.json()["rejections"]
        assert (refusal["index"], refusal["field"]) == (0, field)
        assert refusal["reason"] == f"field '{field}' contains a NUL character"
    assert ws.store.count_events() == 3 + 30 * 5
    letters = sorted(d.event_id or "" for d in ws.store.dead_letters())
    assert letters == ["n1\\0", "n2", "n3"]  # NUL kept readably: PostgreSQL text has none


def test_nul_item_ids_are_refused_on_postgres(postgres_workspace: Workspace) -> None:
    with TestClient(create_app(postgres_workspace)) as client:
        answer = client.put("/v1/items", json=[{"item_id": "ok"}, {"item_id": "bad\x00"}])
        assert answer.status_code == 200
        assert answer.json()["rejections"][0]["field"] == "item_id"
        assert client.delete("/v1/items/bad%00").status_code == 404
    assert postgres_workspace.store.items()["item_id"].to_list() == ["ok"]
