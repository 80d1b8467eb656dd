"""Group commit over HTTP (issue #12 point 7): a batch the store refuses fails only its own
request; the batches stored in the same group are stored and answered 200."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import polars as pl
import pytest

from tastemaker.serving import create_app
from tastemaker.storage.base import AppendResult
from tastemaker.workspace import Workspace


def _batch(name: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{name}-{i}",
            "user_id": "u",
            "type": "view",
            "item_id": "i",
            "timestamp": "2026-01-01",
        }
        for i in range(3)
    ]


def test_a_failing_batch_does_not_fail_its_group(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = sqlite_workspace
    original = ws.store.append_events
    release = threading.Event()
    heights: list[int] = []

    def append(frame: pl.DataFrame) -> AppendResult:
        heights.append(frame.height)
        if len(heights) == 1:  # hold the first request until the others are queued
            release.wait(30)
        if frame["event_id"].str.starts_with("poison").any():
            raise RuntimeError("the store refuses this batch")
        return original(frame)

    monkeypatch.setattr(ws.store, "append_events", append)
    app = create_app(ws)
    names = ["b1", "b2", "poison", "b3", "b4"]

    async def main() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.post("/v1/events", json=_batch("first")))
            while not heights:
                await asyncio.sleep(0.01)
            rest = {
                n: asyncio.create_task(client.post("/v1/events", json=_batch(n))) for n in names
            }
            while len(ws.ingestor.group_commit._queue) < len(names):
                await asyncio.sleep(0.01)
            release.set()
            answers = {n: await task for n, task in rest.items()}
            answers["first"] = await first
            return answers

    answers = asyncio.run(main())
    assert heights[:2] == [3, 15]  # the five queued batches went to the store as one group
    for name in ("first", "b1", "b2", "b3", "b4"):
        assert answers[name].status_code == 200, answers[name].text
        assert answers[name].json()["accepted"] == 3
    assert answers["poison"].status_code == 500
    assert answers["poison"].json()["error"] == "InternalError"
    stored = set(ws.store.events()["event_id"].to_list())
    assert stored == {f"{n}-{i}" for n in ("first", "b1", "b2", "b3", "b4") for i in range(3)}
