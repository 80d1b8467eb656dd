"""A PostgreSQL server that cannot be reached makes the store raise `StoreUnavailableError`
(503 + Retry-After in the API), whichever call meets the outage first.

The test runs its own PostgreSQL server (never the shared one) and stops it mid-test.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tastemaker.bench.chaos_backends import ThrowawayPostgres
from tastemaker.errors import StoreUnavailableError
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration


def _events(*ids: str) -> pl.DataFrame:
    return pl.DataFrame(
        [{"event_id": i, "user_id": "alice", "type": "view", "item_id": "car1",
          "timestamp": "2026-01-01T10:00:00Z"} for i in ids]
    )  # fmt: skip


def test_appending_events_to_a_stopped_server_raises_store_unavailable(
    throwaway_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    ws = Workspace.init(tmp_path / "ws", database_url=throwaway_postgres.url)
    try:
        assert ws.ingestor.ingest_events(_events("e1"), "test").accepted == 1
        throwaway_postgres.stop()
        # the pool's connection is dead (the checkout's ping fails), then nothing connects
        for attempt in ("e2", "e3"):
            with pytest.raises(StoreUnavailableError):
                ws.ingestor.ingest_events(_events(attempt), "test")
        throwaway_postgres.start()
        assert ws.ingestor.ingest_events(_events("e4"), "test").accepted == 1
    finally:
        ws.close()
