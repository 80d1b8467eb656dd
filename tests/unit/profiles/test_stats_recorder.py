"""The stream worker records segment sizes over time, at most once per interval."""

from __future__ import annotations

import pytest
from profile_helpers import ITEMS, views

from tastemaker.profiles.worker import StatsRecorder
from tastemaker.workspace import Workspace


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Workspace:
    sqlite_workspace.ingestor.ingest_items(ITEMS, "test")
    sqlite_workspace.profiles.rules.check_every = 0.0
    return sqlite_workspace


def test_sizes_are_recorded_once_per_interval(ws: Workspace) -> None:
    now = [1000.0]
    recorder = StatsRecorder(ws.profiles, interval_s=3600, clock=lambda: now[0])
    ws.ingestor.ingest_events(views("ann", ["ev_suv1", "ev_suv2", "ev_suv1"]), "t")

    assert recorder.maybe_record()  # first batch: recorded
    now[0] += 60
    assert not recorder.maybe_record()  # a minute later: not yet
    now[0] += 3600
    assert recorder.maybe_record()  # an hour later: again

    history = ws.store.segment_stats()
    electric = history.filter(history["segment"] == "electric")
    assert electric.height == 2 and electric["members"].to_list() == [1, 1]


def test_a_zero_interval_never_records(ws: Workspace) -> None:
    recorder = StatsRecorder(ws.profiles, interval_s=0)
    assert not recorder.maybe_record()
    assert ws.store.segment_stats().height == 0
