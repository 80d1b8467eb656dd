"""Forgetting a user on PostgreSQL + Redis: after the forget no table (every column as
text), no Redis key of the workspace (names and values: profile fast path, stream entries)
and no workspace file holds the user's raw id, pseudonym or anonymous id, while another
user's traces are still there (so the scan can fail)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import redis
from tests.conftest import REDIS_URL
from tests.e2e.traces import in_files, in_redis, in_tables

from tastemaker.config import CacheConfig, RedisBusConfig, load_settings, write_settings
from tastemaker.privacy.forget import forget_user
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import fast_path
from tastemaker.profiles.worker import run_worker
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration

ALICE, VISITOR, BOB = "raw-alice-f51", "raw-visitor-0ad", "raw-bob-3e7"
ITEMS = pl.DataFrame({"item_id": ["e1", "e2", "d1"], "fuel_type": ["electric", "electric",
                      "diesel"], "price": [40_000.0, 30_000.0, 9_000.0]})  # fmt: skip


@pytest.fixture
def ws(postgres_workspace: Workspace) -> Iterator[Workspace]:
    """The PostgreSQL workspace (own schema) with its own Redis streams and fast path."""
    root = postgres_workspace.root
    settings = load_settings(root)
    settings.bus = RedisBusConfig(url=REDIS_URL, stream=f"tmtest:{uuid.uuid4().hex[:10]}:ev",
                                  partitions=2)  # fmt: skip
    settings.cache = CacheConfig(redis_url=REDIS_URL)
    write_settings(settings)
    ws = Workspace.open(root)
    yield ws
    client = redis.Redis.from_url(REDIS_URL)
    for prefix in _prefixes(ws):
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    client.close()
    ws.close()


def _prefixes(ws: Workspace) -> list[str]:
    bus = ws.settings.bus
    fast = fast_path(ws.settings)
    assert isinstance(bus, RedisBusConfig) and fast is not None
    fast.client.close()
    return [bus.stream, fast.prefix]


def _events(rows: list[tuple[str, str | None, str | None, str, str | None]]) -> pl.DataFrame:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    names = ("event_id", "user_id", "anonymous_id", "type", "item_id")
    frame = pl.DataFrame([dict(zip(names, row, strict=True)) for row in rows])
    stamps = [(t0 + timedelta(seconds=i)).isoformat() for i in range(len(rows))]
    return frame.with_columns(pl.Series("timestamp", stamps))


def _drain(ws: Workspace) -> None:
    """Run a stream worker until every published event is applied and acknowledged."""
    bus_cfg = ws.settings.bus
    assert isinstance(bus_cfg, RedisBusConfig)
    worker = ProfileService(ws.settings, ws.store, fast=fast_path(ws.settings))
    bus, stop = RedisStreamBus(bus_cfg), threading.Event()
    thread = threading.Thread(target=run_worker, args=(worker, bus, "w1"),
                              kwargs={"stop": stop}, daemon=True)  # fmt: skip
    thread.start()
    deadline = time.monotonic() + 20
    key = ws.pseudonymizer.one(BOB)
    while time.monotonic() < deadline and (ws.profiles.get(key) is None or bus.lag()
                                           or bus.pending()):  # fmt: skip
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert bus.lag() == 0 and bus.pending() == 0
    bus.close()


def test_a_forgotten_user_leaves_no_trace_in_postgres_and_redis(ws: Workspace) -> None:
    ws.ingestor.ingest_items(ITEMS, "t")
    ws.ingestor.ingest_users(pl.DataFrame({"user_id": [ALICE, BOB], "region": ["n", "s"]}), "t")
    ws.ingestor.ingest_events(_events([
        ("a1", None, VISITOR, "view", "e1"), ("a2", ALICE, VISITOR, "identify", None),
        ("a3", ALICE, None, "view", "e2"), ("a4", ALICE, None, "purchase", "e2"),
    ]), "api")  # fmt: skip
    ws.ingestor.ingest_events(_events([("b1", BOB, None, "view", "d1")]), "api")
    _drain(ws)
    key, anon = ws.pseudonymizer.one(ALICE), ws.pseudonymizer.one(VISITOR)
    needles = {ALICE, VISITOR, key, anon}
    client = redis.Redis.from_url(REDIS_URL)
    prefixes = _prefixes(ws)
    before = [hit for p in prefixes for hit in in_redis(client, p, needles)]
    assert in_tables(ws.store, needles) and len(before) >= 2  # stream entry, fast path

    receipt = forget_user(ws, ALICE)
    again = forget_user(ws, ALICE)

    left = in_tables(ws.store, needles) + in_files(ws.root, needles)
    left += [hit for p in prefixes for hit in in_redis(client, p, needles)]
    assert left == [], "\n".join(left)
    bob = ws.pseudonymizer.one(BOB)
    assert in_tables(ws.store, {bob})
    assert all(in_redis(client, p, {bob}) for p in prefixes)  # stream entry and fast path
    client.close()
    deleted = receipt.deleted
    assert deleted["store:events"] == 4 and deleted["store:identity_links"] == 1
    assert deleted["store:users"] == 1 and deleted["store:profiles"] >= 1
    assert deleted["redis:profiles"] >= 1 and deleted["redis:stream entries"] >= 1
    assert receipt.anonymous_ids == 1
    assert again.total == 0  # forgetting again: a receipt of zeros
