"""Issue #12 point 2: with ``bus: redis`` an event stored is an event published (outbox).

Publishing follows the event log past the ``published`` watermark, which moves only after
XADD succeeded; what a failed publish left behind goes out with the next attempt.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from redis_helpers import cleanup, redis_workspace

from tastemaker.config import RedisBusConfig
from tastemaker.errors import StoreUnavailableError
from tastemaker.privacy.forget import forget_user
from tastemaker.storage.base import Lease
from tastemaker.storage.redis_streams import RedisStreamBus, _columns
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration

ITEMS = pl.DataFrame({"item_id": ["e1", "d1"], "fuel_type": ["electric", "diesel"]})


def views(user: str, items: list[str], prefix: str = "e") -> pl.DataFrame:
    """Raw view events of one user, a second apart."""
    t0 = datetime.now(UTC)
    return pl.DataFrame({
        "event_id": [f"{prefix}{i}" for i in range(len(items))], "user_id": [user] * len(items),
        "type": ["view"] * len(items), "item_id": items,
        "timestamp": [(t0 + timedelta(seconds=i)).isoformat() for i in range(len(items))],
    })  # fmt: skip


def _published(ws: Workspace) -> list[str]:
    """Every event id in the workspace's streams (duplicates kept)."""
    cfg = ws.settings.bus
    assert isinstance(cfg, RedisBusConfig)
    bus = RedisStreamBus(cfg)
    try:
        return [
            str(eid)
            for p in range(cfg.partitions)
            for _, fields in bus.client.xrange(bus.stream(p))
            for eid in _columns(fields)["event_id"]
        ]
    finally:
        bus.close()


def test_a_batch_whose_publish_failed_is_published_by_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = redis_workspace(tmp_path / "ws")
    real = RedisStreamBus.publish
    failures = iter([StoreUnavailableError("cannot publish to redis streams: Timeout")])

    def flaky(self: RedisStreamBus, events: object) -> int:
        failure = next(failures, None)
        if failure is not None:  # the first XADD fails after the events were committed
            raise failure
        return real(self, events)  # type: ignore[arg-type]

    monkeypatch.setattr(RedisStreamBus, "publish", flaky)
    try:
        ws.ingestor.ingest_items(ITEMS, "t")
        ws.profiles.fast = None  # only the streams matter here
        batch = views("ann", ["e1", "e1", "d1"])
        with contextlib.suppress(StoreUnavailableError):  # it was answered 503 before
            ws.ingestor.ingest_events(batch, "api")
        retry = ws.ingestor.ingest_events(batch, "api")  # the client sends it again
        assert (retry.accepted, retry.duplicates) == (0, 3)
        if getattr(ws, "outbox", None) is not None:  # publish what this process owes
            ws.outbox.close()  # type: ignore[union-attr]
        stored = set(ws.store.events()["event_id"].to_list())
        assert stored == {"e0", "e1", "e2"}
        assert stored <= set(_published(ws)), "stored events were never published"
    finally:
        cleanup(ws)
        ws.close()


def test_events_stored_while_redis_is_down_are_published_by_the_next_writer(
    tmp_path: Path,
) -> None:
    """Another process's outbox (here: another workspace object) publishes what the first
    left past the watermark."""
    ws = redis_workspace(tmp_path / "ws")
    try:
        ws.ingestor.ingest_items(ITEMS, "t")
        ws.profiles.fast = None
        good = ws.settings.bus
        assert isinstance(good, RedisBusConfig)
        down = Workspace.open(ws.root)
        assert down.outbox is not None
        down.outbox.bus = RedisStreamBus(good.model_copy(update={"url": "redis://127.0.0.1:1/0"}))
        down.outbox.follower.retry_max_s = 0.05
        down.ingestor.ingest_events(views("bo", ["e1", "d1"], prefix="b"), "api")
        assert not down.outbox.close(timeout=0.2)  # Redis unreachable: nothing published
        down.close()
        assert _published(ws) == []
        ws.ingestor.ingest_events(views("cy", ["e1"], prefix="c"), "api")
        assert sorted(_published(ws)) == ["b0", "b1", "c0"]
    finally:
        cleanup(ws)
        ws.close()


def test_a_user_forgotten_while_their_events_are_published_is_not_left_in_the_streams(
    tmp_path: Path,
) -> None:
    """An admin forgets a user (another process) just as this server's outbox has read the
    user's events from the log and is sending them: a forget that reports success leaves
    no stream entry holding them (else a worker would build their profile again); here the
    send ends first and the forget answers 503 (entries still to process: run it again)."""
    ws = redis_workspace(tmp_path / "ws")
    admin = Workspace.open(ws.root)
    outcome: list[object] = []
    settled = threading.Event()  # the forget finished, or waits for the send to end
    take_lease = admin.store.take_lease

    def watched(name: str, holder: str, ttl_ms: int) -> Lease:
        lease = take_lease(name, holder, ttl_ms)
        if not lease.acquired:
            settled.set()
        return lease

    def forget() -> None:
        try:
            outcome.append(forget_user(admin, "uma"))
        except StoreUnavailableError as exc:
            outcome.append(exc)
        settled.set()

    assert ws.outbox is not None
    publish = ws.outbox.bus.publish

    def forget_then_publish(events: pl.DataFrame) -> int:
        if not outcome and not settled.is_set():
            threading.Thread(target=forget, daemon=True).start()
            settled.wait(30)
        return publish(events)

    admin.store.take_lease = watched  # type: ignore[method-assign]
    ws.outbox.bus.publish = forget_then_publish  # type: ignore[method-assign]
    try:
        ws.ingestor.ingest_items(ITEMS, "t")
        ws.profiles.fast = None  # only the streams matter here
        ws.ingestor.ingest_events(views("uma", ["e1", "d1"], prefix="u"), "api")
        ws.ingestor.ingest_events(views("bo", ["e1"], prefix="b"), "api")
        ws.outbox.close()
        deadline = time.monotonic() + 30
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.01)
        assert outcome, "the forget never finished"
        forgotten = not isinstance(outcome[0], StoreUnavailableError)
        assert not (forgotten and {"u0", "u1"} & set(_published(ws)))
    finally:
        cleanup(ws)
        admin.close()
        ws.close()
