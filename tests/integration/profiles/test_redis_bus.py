"""Redis Streams bus and Redis fast path: partitioned delivery, acks, crash redelivery."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
from redis_helpers import cleanup, redis_workspace

from tastemaker.config import RedisBusConfig
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import fast_path
from tastemaker.profiles.worker import run_worker
from tastemaker.storage.bus import ARROW_MIN_ROWS, partition_of, split_by_partition
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration

ITEMS = pl.DataFrame(
    {"item_id": ["e1", "e2", "d1"], "fuel_type": ["electric", "electric", "diesel"],
     "body_type": ["suv", "suv", "sedan"], "price": [40_000.0, 30_000.0, 9_000.0]}
)  # fmt: skip


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = redis_workspace(tmp_path / "ws")
    ws.ingestor.ingest_items(ITEMS, "t")
    yield ws  # type: ignore[misc]
    cleanup(ws)
    ws.close()


def _views(user: str, items: list[str], prefix: str) -> pl.DataFrame:
    t0 = datetime.now(UTC)
    return pl.DataFrame({
        "event_id": [f"{prefix}{i}" for i in range(len(items))], "user_id": [user] * len(items),
        "type": ["view"] * len(items), "item_id": items,
        "timestamp": [(t0 + timedelta(seconds=i)).isoformat() for i in range(len(items))],
    })  # fmt: skip


def test_one_user_always_maps_to_one_partition() -> None:
    keys = pl.Series(["a", "b", "a", "c", "b"])
    parts = partition_of(keys, 4).to_list()
    assert parts[0] == parts[2] and parts[1] == parts[4]
    assert all(0 <= p < 4 for p in parts)


def test_ingestion_publishes_and_a_worker_makes_segments_visible(ws: Workspace) -> None:
    bus_cfg = ws.settings.bus
    assert isinstance(bus_cfg, RedisBusConfig)
    ws.ingestor.ingest_events(_views("zed", ["e1", "e2", "e1", "d1"], "z"), "api")
    key = ws.pseudonymizer.one("zed")
    assert ws.profiles.get(key) is None  # nobody consumed yet: the API process only reads
    worker = ProfileService(ws.settings, ws.store, fast=fast_path(ws.settings))
    bus = RedisStreamBus(bus_cfg)
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(worker, bus, "w1"),
                              kwargs={"stop": stop}, daemon=True)  # fmt: skip
    thread.start()
    try:
        deadline = time.monotonic() + 5
        profile = cached = None
        assert ws.profiles.fast is not None
        while time.monotonic() < deadline and (profile is None or cached is None):
            profile = ws.profiles.get(key)  # the store is written first, then the fast path
            cached = ws.profiles.fast.get(key)
            time.sleep(0.01)
        assert profile is not None and {"electric", "suv"} <= set(profile.segments)
        assert cached is not None
    finally:
        stop.set()
        thread.join(5)
    assert bus.pending() == 0 and bus.lag() == 0
    bus.close()


def test_unacknowledged_entries_are_delivered_again(ws: Workspace) -> None:
    bus_cfg = ws.settings.bus
    assert isinstance(bus_cfg, RedisBusConfig)
    first = RedisStreamBus(bus_cfg)
    stored = _views("amy", ["e1", "e2"], "a").with_columns(
        pl.col("timestamp").str.to_datetime(time_zone="UTC").dt.epoch("ms")
    )
    first.publish(stored)
    got = first.consume("crashy", count=10, block_ms=10)
    assert sum(m.size for m in got) == 2  # delivered, never acknowledged
    second = RedisStreamBus(bus_cfg)  # a restarted worker claims what was pending
    again = second.consume("fresh", count=10, block_ms=10)
    assert sorted(e for m in again for e in m.events["event_id"].to_list()) == ["a0", "a1"]
    second.ack(again)
    assert second.pending() == 0
    assert second.consume("fresh", count=10, block_ms=10) == []
    first.close()
    second.close()


def test_large_entries_are_arrow_small_ones_json_and_older_entries_are_still_read(
    ws: Workspace,
) -> None:
    bus_cfg = ws.settings.bus
    assert isinstance(bus_cfg, RedisBusConfig)
    bus = RedisStreamBus(bus_cfg, owned=[0])
    bus.ensure_groups()
    many = ["e1", "e2", "d1"] * (ARROW_MIN_ROWS // 3 + 1)
    small, large = (
        _views("cy", items, prefix).with_columns(
            pl.col("timestamp").str.to_datetime(time_zone="UTC").dt.epoch("ms")
        )
        for items, prefix in ((["e1", "e2"], "c"), (many, "l"))
    )
    expected = [split_by_partition(f, 1)[0] for f in (small, large)]  # as the worker gets them
    old = {**expected[0], "event_id": ["o0", "o1"]}
    bus.client.xadd(bus.stream(0), {"e": orjson.dumps(old), "t": "1"})  # an older version's
    single = RedisStreamBus(bus_cfg.model_copy(update={"partitions": 1}), owned=[0])
    single.publish(small)  # one partition: everything goes to stream 0
    single.publish(large)
    entries = bus.client.xrange(bus.stream(0))
    assert [sorted(fields) for _, fields in entries] == [[b"e", b"t"], [b"e", b"t"], [b"a", b"t"]]
    got = bus.consume("w", count=10, block_ms=10)
    assert [m.columns for m in got] == [old, *expected]
    assert got[2].events.schema == got[1].events.schema == got[0].events.schema
    bus.ack(got)
    assert bus.pending() == 0
    bus.close()
    single.close()


def test_fast_path_loss_is_repaired_by_rebuild(ws: Workspace) -> None:
    fast = ws.profiles.fast
    assert fast is not None
    owner = ProfileService(ws.settings, ws.store, fast=fast)
    owner.apply(_stored(ws, _views("bo", ["e1", "e1", "e2"], "b")))
    key = ws.pseudonymizer.one("bo")
    assert fast.get(key) is not None
    fast.clear()
    assert fast.get(key) is None
    assert ws.profiles.get(key) is not None  # the store still has it
    assert owner.rebuild() == 1 and fast.get(key) is not None


def _stored(ws: Workspace, raw: pl.DataFrame) -> pl.DataFrame:
    """Store events without publishing (as if the bus were down) and return them as stored."""
    listeners, ws.ingestor.listeners = ws.ingestor.listeners, []
    try:
        ws.ingestor.ingest_events(raw, "t")
    finally:
        ws.ingestor.listeners = listeners
    return ws.store.events().drop("seq")
