"""A stream worker's Redis copy of a profile written late, after a rebuild or a forget wrote
newer copies (PostgreSQL + Redis): the late copy never replaces the newer one.

A worker writes a profile to the store (guarded), then its Redis copy. Here the copy is
held back between the two (the worker's `put_many` waits for the test), while a retention
rebuilds the profiles and writes fresh copies, or a forget deletes the user everywhere; then
the held write goes on. The copies carry the watermark version their states belong to, and
Redis replaces a copy only with one of a version not older (a deleted one only at or above
the floor the deletion raised).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from privacy_helpers import append, streamed_workspace, view_events
from tests.conftest import REDIS_URL

from tastemaker.config import RedisBusConfig
from tastemaker.privacy.forget import forget_user
from tastemaker.privacy.retention import apply_retention
from tastemaker.profiles.model import dumps_state
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import fast_path
from tastemaker.storage.redis_profiles import RedisProfiles, stamp
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration

ANN, BOB = "raw-ann-c41", "raw-bob-77d"
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)


@pytest.fixture
def ws(postgres_workspace: Workspace) -> Iterator[Workspace]:
    """The PostgreSQL workspace (own schema) with its own Redis streams and fast path
    (prefixes unique to the test), keeping 30 days of events."""
    yield from streamed_workspace(postgres_workspace)


@pytest.fixture
def fast() -> Iterator[RedisProfiles]:
    """A fast path under a prefix of its own."""
    profiles = RedisProfiles(REDIS_URL, prefix=f"tmtest:{uuid.uuid4().hex[:10]}:")
    yield profiles
    keys = list(profiles.client.scan_iter(match=f"{profiles.prefix}*"))
    if keys:
        profiles.client.delete(*keys)
    profiles.close()


def _drain(ws: Workspace) -> None:
    """Consume and acknowledge every stream entry (as workers would have): a forget erases
    the entries holding the user and waits for unprocessed ones."""
    assert isinstance(ws.settings.bus, RedisBusConfig)
    bus = RedisStreamBus(ws.settings.bus)
    try:
        while messages := bus.consume("drain", count=1000, block_ms=10):
            bus.ack(messages)
    finally:
        bus.close()


class HeldWorker:
    """A stream worker's service whose next Redis copy waits, after the store's commit, until
    `release` (the race below then happens in a fixed order, not by timing)."""

    def __init__(self, ws: Workspace) -> None:
        self.service = ProfileService(ws.settings, ws.store, fast=fast_path(ws.settings))
        self.service.consent.refresh_seconds = 3600.0
        assert self.service.fast is not None
        self._put: Callable[..., int] = self.service.fast.put_many
        self.committed, self.go = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def _held_put(self, *args: object, **kwargs: object) -> int:
        self.committed.set()  # the store has the profile; the copy is not written yet
        assert self.go.wait(30)
        return self._put(*args, **kwargs)

    def apply_held(self, frame: pl.DataFrame) -> None:
        """Apply ``frame`` in a thread; return once the store write committed."""
        assert self.service.fast is not None
        self.service.fast.put_many = self._held_put  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.service.apply, args=(frame,))
        self.thread.start()
        assert self.committed.wait(30)

    def release(self) -> None:
        """Let the held copy be written; wait until it was."""
        assert self.thread is not None
        self.go.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_a_late_copy_does_not_replace_the_rebuilds(ws: Workspace) -> None:
    assert ws.profiles.fast is not None
    key = ws.pseudonymizer.one(ANN)
    worker = HeldWorker(ws)
    worker.service.apply(append(ws, view_events("ao", ANN, ["e1", "d1"], OLD)))
    worker.apply_held(append(ws, view_events("an", ANN, ["e2"], NOW - timedelta(hours=2))))
    stale = ws.store.load_profile_state(key)  # what the held copy holds: the old events too
    assert stale is not None and "an0" in stale

    assert apply_retention(ws).profiles_rebuilt == 1  # the old events go, copies rewritten
    rebuilt = ws.profiles.fast.get(key)
    assert rebuilt is not None and "an0" in rebuilt
    assert rebuilt != stale  # without the old events (first seen, affinities)
    worker.release()  # the late copy lands now

    states, _ = ws.profiles.simulate()
    assert ws.profiles.fast.get(key) == rebuilt == ws.store.load_profile_state(key)
    assert rebuilt == dumps_state(states[key])
    assert ws.profiles.fast.version(key) == ws.store.watermark("profiles").version


def test_a_late_copy_does_not_bring_a_forgotten_user_back(ws: Workspace) -> None:
    assert ws.profiles.fast is not None
    ann, bob = ws.pseudonymizer.one(ANN), ws.pseudonymizer.one(BOB)
    worker = HeldWorker(ws)
    worker.service.apply(append(ws, view_events("b", BOB, ["e1"], NOW - timedelta(hours=3))))
    worker.apply_held(append(ws, view_events("a", ANN, ["e2", "d1"], NOW - timedelta(hours=2))))

    _drain(ws)
    receipt = forget_user(ws, ANN)
    assert ws.store.load_profile_state(ann) is None and receipt.total > 0
    assert ws.profiles.fast.get(ann) is None
    worker.release()  # the late copy of the forgotten user lands now

    assert ws.profiles.fast.get(ann) is None
    assert ws.profiles.fast.get(bob) == ws.store.load_profile_state(bob) is not None


def test_a_copy_is_replaced_only_by_one_not_older(fast: RedisProfiles) -> None:
    assert fast.put_many({"u": '{"v":3}'}, version=3) == 0
    assert fast.put_many({"u": '{"v":2}'}, ["w"], version=2) == 1  # older: left alone
    assert fast.get("u") == '{"v":3}' and fast.version("u") == 3
    assert fast.put_many({"u": '{"v":3b}'}, version=3) == 0  # the same version: a later write
    assert fast.get("u") == '{"v":3b}'
    assert fast.put_many({}, ["u"], version=2) == 1  # an older delete leaves it too
    assert fast.put_many({}, ["u"], version=4) == 0 and fast.get("u") is None


def test_a_deleted_copy_comes_back_only_at_or_above_the_floor(fast: RedisProfiles) -> None:
    fast.put_many({"u": "{}", "w": "{}"}, version=5)
    assert fast.delete(["u"], version=6) == 1
    assert fast.put_many({"u": '{"late":1}', "n": '{"new":1}'}, version=5) == 2
    assert fast.get("u") is None and fast.get("n") is None  # the store answers instead
    assert fast.put_many({"w": '{"w":5}'}, version=5) == 0  # an existing copy: by its version
    assert fast.put_many({"u": '{"u":6}'}, version=6) == 0 and fast.get("u") == '{"u":6}'
    assert fast.clear(version=7) == 2 and fast.put_many({"w": "{}"}, version=6) == 1
    assert fast.client.get(fast.floor_key) == stamp(7).encode()


def test_a_copy_written_before_versions_reads_and_counts_as_the_oldest(
    fast: RedisProfiles,
) -> None:
    fast.client.set(f"{fast.prefix}profile:u", '{"legacy":1}')
    assert fast.get("u") == '{"legacy":1}' and fast.version("u") is None
    assert fast.put_many({"u": '{"v":0}'}, version=0) == 0
    assert fast.get("u") == '{"v":0}' and fast.version("u") == 0
