"""Retention while a stream worker applies events (PostgreSQL + Redis Streams): whatever the
interleaving, stored profiles equal a replay of the remaining log afterwards.

The worker is a `ProfileService` of its own (as `tastemaker worker` has) fed the frames it
would consume, so each race is played in a fixed order: a write with states kept from before
the retention, a write while the rebuild holds the lease, a deleted event delivered before the
worker re-read the cut.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from privacy_helpers import append, streamed_workspace, view_events

from tastemaker.privacy.retention import apply_retention
from tastemaker.profiles.model import dumps_state
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import fast_path
from tastemaker.workspace import Workspace

pytestmark = pytest.mark.integration

ANN, BOB = "raw-ann-5e1", "raw-bob-9a7"
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)


@pytest.fixture
def ws(postgres_workspace: Workspace) -> Iterator[Workspace]:
    """The PostgreSQL workspace (own schema) publishing to its own Redis streams, with its
    own Redis fast path, keeping 30 days of events; this process only reads profiles (stream
    workers write them)."""
    yield from streamed_workspace(postgres_workspace)


def _worker(ws: Workspace) -> ProfileService:
    """A stream worker's service that would keep its states and its view of the cut for an
    hour (the races below then happen in a fixed order, not by timing)."""
    service = ProfileService(ws.settings, ws.store, fast=fast_path(ws.settings))
    service.consent.refresh_seconds = 3600.0
    return service


def _stored(ws: Workspace) -> dict[str, str]:
    return {k: r.state for k, r in ws.store.load_profiles().items()}


def _copies(ws: Workspace) -> dict[str, str | None]:
    """The Redis copies of the stored profiles."""
    assert ws.profiles.fast is not None
    return {k: ws.profiles.fast.get(k) for k in _stored(ws)}


def _replayed(ws: Workspace) -> dict[str, str]:
    states, _ = ws.profiles.simulate()
    return {k: dumps_state(s) for k, s in states.items()}


def test_a_write_with_states_kept_from_before_retention(ws: Workspace) -> None:
    worker = _worker(ws)
    worker.apply(append(ws, view_events("ao", ANN, ["e1", "d1"], OLD)))
    worker.apply(append(ws, view_events("an", ANN, ["e2"], NOW - timedelta(hours=2))))
    worker.fresh_seconds = 3600.0  # it keeps ANN's state, old events included

    assert apply_retention(ws).profiles_rebuilt == 1
    worker.apply(append(ws, view_events("late", ANN, ["e1"], NOW - timedelta(hours=1))))

    assert _stored(ws) == _replayed(ws)


def test_a_write_while_the_rebuild_holds_the_lease(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = _worker(ws)
    worker.apply(append(ws, view_events("ao", ANN, ["e1", "d1"], OLD)))
    worker.apply(append(ws, view_events("an", ANN, ["e2"], NOW - timedelta(hours=2))))
    worker.fresh_seconds = 0.0  # sees the deletion at once: only the rebuild races
    replay, racing = ws.profiles._replay, []

    def replay_then_race(*args: object) -> object:
        out = replay(*args)  # type: ignore[arg-type]
        if racing:  # the replay of the comparison below
            return out
        # the log read, the lease held: an event arrives and the worker applies it
        frame = append(ws, view_events("race", ANN, ["d1"], NOW - timedelta(hours=1)))
        racing.append(threading.Thread(target=worker.apply, args=(frame,)))
        racing[0].start()
        racing[0].join(1.0)  # the write lands now unless it waits for the rebuild
        return out

    monkeypatch.setattr(ws.profiles, "_replay", replay_then_race)
    assert apply_retention(ws).profiles_rebuilt == 1
    racing[0].join(30)

    assert not racing[0].is_alive()
    assert _stored(ws) == _replayed(ws) == _copies(ws)
    assert "race0" in _stored(ws)[ws.pseudonymizer.one(ANN)]


def test_a_deleted_event_delivered_before_the_worker_reread_the_cut(ws: Workspace) -> None:
    worker = _worker(ws)
    worker.apply(append(ws, view_events("an", ANN, ["e2"], NOW - timedelta(hours=2))))
    undelivered = append(ws, view_events("bo", BOB, ["d1"], OLD))  # still in the stream
    worker.fresh_seconds = 0.0

    assert apply_retention(ws).deleted["store:events"] == 1
    worker.apply(undelivered)  # its view of the cut is an hour old

    assert ws.pseudonymizer.one(BOB) not in _stored(ws)
    assert _stored(ws) == _replayed(ws)


def test_the_rebuild_keeps_the_lease_until_redis_has_the_profiles(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker waiting for the rebuild writes after it in Redis too, never before."""
    fast = ws.profiles.fast
    assert fast is not None
    put, held = fast.put_many, []

    def put_while_held(*args: object, **kwargs: object) -> None:
        held.append(ws.store.watermark("profiles").holder is not None)
        put(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fast, "put_many", put_while_held)
    _worker(ws).apply(append(ws, view_events("ao", ANN, ["e1"], OLD)))

    assert apply_retention(ws).profiles_rebuilt == 0
    assert held == [True]
