"""Retention and opt-out on PostgreSQL + Redis Streams with a stream worker: old events,
dead letters and acknowledged stream entries go (never an entry still to be processed),
newer ones stay, and profiles, kept by a worker that goes on applying events, equal a
rebuild from the remaining log; an opted-out user's events build no profile in the worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from privacy_helpers import ITEMS, streamed_workspace, view_events

from tastemaker.config import RedisBusConfig
from tastemaker.privacy.consent import set_consent
from tastemaker.privacy.retention import apply_retention
from tastemaker.profiles.model import dumps_state
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import fast_path
from tastemaker.profiles.worker import run_worker
from tastemaker.storage.base import DeadLetter
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration

ANN, BOB = "raw-ann-71c", "raw-bob-d02"
NOW = datetime.now(UTC)


@pytest.fixture
def ws(postgres_workspace: Workspace) -> Iterator[Workspace]:
    """The PostgreSQL workspace (own schema) with its own Redis streams and fast path,
    keeping 30 days of events."""
    yield from streamed_workspace(postgres_workspace, consent_refresh_seconds=0.2)


class Worker:
    """A stream worker (its own profile service, which keeps states) in a thread."""

    def __init__(self, ws: Workspace, service: ProfileService | None = None) -> None:
        cfg = ws.settings.bus
        assert isinstance(cfg, RedisBusConfig)
        self.service = service or ProfileService(ws.settings, ws.store, fast=fast_path(ws.settings))
        self.service.fresh_seconds = 0.0  # sees another process's rebuild at its next batch
        self.bus, self.stop = RedisStreamBus(cfg), threading.Event()
        self.thread = threading.Thread(target=run_worker, args=(self.service, self.bus, "w1"),
                                       kwargs={"stop": self.stop}, daemon=True)  # fmt: skip
        self.thread.start()

    def drain(self) -> None:
        """Wait until every published entry is delivered and acknowledged."""
        deadline = time.monotonic() + 30
        time.sleep(0.2)
        while time.monotonic() < deadline and (self.bus.lag() or self.bus.pending()):
            time.sleep(0.05)
        assert self.bus.lag() == 0 and self.bus.pending() == 0

    def close(self) -> None:
        """Stop the thread."""
        self.stop.set()
        self.thread.join(10)
        self.bus.close()


def _stored(ws: Workspace) -> dict[str, str]:
    return {k: r.state for k, r in ws.store.load_profiles().items()}


def _replayed(ws: Workspace) -> dict[str, str]:
    states, _ = ws.profiles.simulate()
    return {k: dumps_state(s) for k, s in states.items()}


def _stream_events(ws: Workspace) -> set[str]:
    cfg = ws.settings.bus
    assert isinstance(cfg, RedisBusConfig)
    bus = RedisStreamBus(cfg)
    try:
        return {e for p in range(cfg.partitions) for m in bus.entries(p)
                for e in m.columns["event_id"]}  # fmt: skip
    finally:
        bus.close()


def test_retention_with_a_stream_worker(ws: Workspace) -> None:
    old = NOW - timedelta(days=40)
    ws.ingestor.ingest_items(ITEMS, "t")
    ws.ingestor.ingest_events(view_events("ao", ANN, ["e1", "e2", "d1"], old), "t")
    ws.ingestor.ingest_events(view_events("bo", BOB, ["d1"], old), "t")
    ws.ingestor.ingest_events(view_events("an", ANN, ["e2"], NOW - timedelta(hours=1)), "t")
    ws.store.add_dead_letters([DeadLetter("event", "t", 0, "type", "bad", "{}")])
    worker = Worker(ws)
    try:
        worker.drain()
        bob = ws.pseudonymizer.one(BOB)
        assert bob in _stored(ws)
        worker.close()  # stopped before it reads the next entry, which stays undelivered
        ws.ingestor.ingest_events(view_events("bl", BOB, ["e1"], old), "t")

        receipt = apply_retention(ws)

        assert receipt.deleted["store:events"] == 5 and receipt.users_affected == 2
        assert receipt.deleted["redis:stream entries"] >= 2  # the two old batches
        assert receipt.stream_entries_pending >= 1  # the undelivered one stays
        assert "store:dead_letters" not in receipt.deleted  # kept since now
        assert {"an0", "bl0"} <= _stream_events(ws) and "ao0" not in _stream_events(ws)
        assert ws.store.count_events() == 1 and bob not in _stored(ws)
        assert _stored(ws) == _replayed(ws)

        # the same worker again, with the states it kept from before: it delivers the old
        # entry (its event must build nothing) and applies a new one on the rebuilt state
        worker = Worker(ws, worker.service)
        ws.ingestor.ingest_events(view_events("an-late", ANN, ["d1"], NOW), "t")
        worker.drain()
        assert bob not in _stored(ws)
        assert _stored(ws) == _replayed(ws)
    finally:
        worker.close()


def test_an_opted_out_users_events_build_nothing_in_the_worker(ws: Workspace) -> None:
    ws.ingestor.ingest_items(ITEMS, "t")
    ws.ingestor.ingest_events(view_events("a", ANN, ["e1"], NOW - timedelta(hours=2)), "t")
    worker = Worker(ws)
    try:
        worker.drain()
        ann = ws.pseudonymizer.one(ANN)
        assert ann in _stored(ws)
        receipt = set_consent(ws, ANN, False)
        assert receipt.deleted == {"store:profiles": 1, "redis:profiles": 1}
        deadline = time.monotonic() + 30  # the worker re-reads consent within its refresh
        while not worker.service.consent.opted_out(ann) and time.monotonic() < deadline:
            time.sleep(0.05)
        ws.ingestor.ingest_events(view_events("b", ANN, ["e2"], NOW - timedelta(hours=1)), "t")
        ws.ingestor.ingest_events(view_events("c", BOB, ["d1"], NOW - timedelta(hours=1)), "t")
        worker.drain()
        assert ann not in _stored(ws) and ws.pseudonymizer.one(BOB) in _stored(ws)
        assert ws.profiles.get(ann) is None and ws.store.count_events() == 3
        assert _stored(ws) == _replayed(ws)
    finally:
        worker.close()
