"""For the privacy race tests: a workspace on PostgreSQL with its own Redis streams and fast
path, a user's views, and storing them as a worker gets them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import polars as pl
import redis
from tests.conftest import REDIS_URL

from tastemaker.config import CacheConfig, RedisBusConfig, load_settings, write_settings
from tastemaker.workspace import Workspace

ITEMS = pl.DataFrame({"item_id": ["e1", "e2", "d1"], "fuel_type": ["electric", "electric",
                      "diesel"], "price": [40_000.0, 30_000.0, 9_000.0]})  # fmt: skip


def streamed_workspace(
    postgres_workspace: Workspace, consent_refresh_seconds: float | None = None
) -> Iterator[Workspace]:
    """The PostgreSQL workspace (own schema) publishing to Redis streams and keeping a Redis
    fast path under prefixes unique to the test, keeping 30 days of events, with `ITEMS`;
    its streams and copies are deleted afterwards."""
    root = postgres_workspace.root
    settings = load_settings(root)
    settings.bus = RedisBusConfig(url=REDIS_URL, stream=f"tmtest:{uuid.uuid4().hex[:10]}:ev",
                                  partitions=2)  # fmt: skip
    settings.cache = CacheConfig(redis_url=REDIS_URL)
    settings.privacy.retention_days = 30
    if consent_refresh_seconds is not None:
        settings.privacy.consent_refresh_seconds = consent_refresh_seconds
    write_settings(settings)
    ws = Workspace.open(root)
    ws.ingestor.ingest_items(ITEMS, "t")
    yield ws
    client = redis.Redis.from_url(REDIS_URL)
    assert ws.profiles.fast is not None
    for prefix in (settings.bus.stream, ws.profiles.fast.prefix):
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    client.close()
    ws.close()


def view_events(prefix: str, user: str, items: list[str], at: datetime) -> pl.DataFrame:
    """``user`` viewing ``items`` one second apart from ``at``; ids ``<prefix><n>``."""
    return pl.DataFrame({
        "event_id": [f"{prefix}{i}" for i in range(len(items))], "user_id": [user] * len(items),
        "type": ["view"] * len(items), "item_id": items,
        "timestamp": [(at + timedelta(seconds=i)).isoformat() for i in range(len(items))],
    })  # fmt: skip


def append(ws: Workspace, frame: pl.DataFrame) -> pl.DataFrame:
    """Store events; return them as stored (pseudonymized, with seq), as a worker gets them."""
    last = ws.store.last_seq()
    ws.ingestor.ingest_events(frame, "t")
    return ws.store.events(after_seq=last)
