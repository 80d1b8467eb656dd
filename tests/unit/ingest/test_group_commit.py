"""Group commit: batches stored together are answered as if stored one after another."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tastemaker.errors import StoreUnavailableError
from tastemaker.ingest.groupcommit import GroupCommit
from tastemaker.schema import IngestSummary
from tastemaker.workspace import Workspace


def _batch(ids: list[str], types: list[str] | None = None) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "event_id": ids,
            "user_id": [f"person{i % 3}" for i in range(n)],
            "type": types or ["view"] * n,
            "item_id": [f"i{i}" for i in range(n)],
            "timestamp": ["2026-01-01T10:00:00Z"] * n,
        }
    )


BATCHES = [
    _batch(["a1", "a2", "a3"], ["view", "teleport", "view"]),
    _batch(["b1", "a1", "b1", "b2"]),  # a1 from the batch before, b1 twice
    _batch(["c1", "c2"], ["click", "fly"]),
]


def test_batches_together_answer_like_batches_in_turn(tmp_path: Path) -> None:
    one = Workspace.init(tmp_path / "one")
    grouped = Workspace.init(tmp_path / "grouped")
    try:
        expected = [one.ingestor.ingest_events(b, "api") for b in BATCHES]
        got = grouped.ingestor.ingest_event_batches(BATCHES, "api")
        assert [s.model_dump() for s in got] == [s.model_dump() for s in expected]
        assert [r.index for r in got[2].rejections] == [1]  # the batch's own row number
        letters = sorted((d.row_index, d.event_id) for d in grouped.store.dead_letters())
        assert letters == [(1, "a2"), (1, "c2")]
        assert grouped.store.count_events() == one.store.count_events() == 5
        again = grouped.ingestor.ingest_event_batches(BATCHES, "api")
        assert [s.accepted for s in again] == [0, 0, 0]
    finally:
        one.close()
        grouped.close()


def _recording_store(calls: list[int], delay: float) -> Any:
    def store(frames: list[pl.DataFrame], source: str) -> list[IngestSummary]:
        calls.append(len(frames))
        time.sleep(delay)
        return [IngestSummary(received=f.height, accepted=int(f["n"][0])) for f in frames]

    return store


def test_concurrent_submissions_are_grouped_and_each_gets_its_own_answer() -> None:
    calls: list[int] = []
    commit = GroupCommit(_recording_store(calls, 0.05), max_rows=100)
    answers: dict[int, int] = {}

    def send(n: int) -> None:
        answers[n] = commit.submit(pl.DataFrame({"n": [n]}), "api").accepted

    threads = [threading.Thread(target=send, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {n: n for n in range(12)}
    assert sum(calls) == 12 and len(calls) < 12  # some were stored together


def test_groups_respect_shape_and_size() -> None:
    calls: list[int] = []
    commit = GroupCommit(_recording_store(calls, 0.0), max_rows=2)
    commit._queue = []
    for n in range(3):
        commit._queue.append(_job(pl.DataFrame({"n": [n]})))
    commit._queue.append(_job(pl.DataFrame({"n": [3], "other": [1]})))
    assert len(commit._take()) == 2  # max_rows
    assert len(commit._take()) == 1  # the next has other columns
    assert len(commit._take()) == 1


def _job(frame: pl.DataFrame) -> Any:
    from tastemaker.ingest.groupcommit import _Job

    return _Job(frame, "api", lambda: None)


def test_an_outage_reaches_every_batch_of_the_group_at_once() -> None:
    calls: list[int] = []

    def store(frames: list[pl.DataFrame], source: str) -> list[IngestSummary]:
        calls.append(len(frames))
        time.sleep(0.05)
        raise StoreUnavailableError("database down")

    commit = GroupCommit(store)
    errors: list[str] = []

    def send() -> None:
        with pytest.raises(StoreUnavailableError) as info:
            commit.submit(pl.DataFrame({"n": [1]}), "api")
        errors.append(str(info.value))

    threads = [threading.Thread(target=send) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["database down"] * 5
    assert sum(calls) == 5  # no batch was tried again alone: the store is down for all
    assert not commit._queue


def test_a_batch_the_store_refuses_is_retried_alone_and_fails_alone() -> None:
    """Issue #12 point 7: one bad batch used to fail every request of its group."""
    calls: list[list[int]] = []

    def store(frames: list[pl.DataFrame], source: str) -> list[IngestSummary]:
        calls.append([int(f["n"][0]) for f in frames])
        if any(int(f["n"][0]) == 2 for f in frames):
            raise ValueError("cannot store batch 2")
        return [IngestSummary(received=1, accepted=int(f["n"][0])) for f in frames]

    commit = GroupCommit(store)
    commit._queue = [_job(pl.DataFrame({"n": [n]})) for n in range(4)]
    group = commit._take()
    commit._run(group)
    assert calls == [[0, 1, 2, 3], [0], [1], [2], [3]]
    assert [j.summary.accepted if j.summary else None for j in group] == [0, 1, None, 3]
    assert isinstance(group[2].error, ValueError)


def test_requests_on_an_event_loop_are_grouped_and_each_gets_its_own_answer() -> None:
    calls: list[int] = []
    commit = GroupCommit(_recording_store(calls, 0.05), max_rows=100)

    async def main() -> list[int]:
        sends = [commit.submit_async(pl.DataFrame({"n": [n]}), "api") for n in range(12)]
        return [s.accepted for s in await asyncio.gather(*sends)]

    assert asyncio.run(main()) == list(range(12))
    assert sum(calls) == 12 and len(calls) < 12  # some were stored together


def test_a_failed_group_raises_in_each_waiting_coroutine() -> None:
    def store(frames: list[pl.DataFrame], source: str) -> list[IngestSummary]:
        return []  # one summary short per batch: a bug in storing, not a hang

    commit = GroupCommit(store)

    async def main() -> list[BaseException | IngestSummary]:
        sends = [commit.submit_async(pl.DataFrame({"n": [n]}), "api") for n in range(3)]
        return await asyncio.gather(*sends, return_exceptions=True)

    assert all(isinstance(r, ValueError) for r in asyncio.run(main()))


def test_a_cancelled_request_is_still_stored_and_the_writer_goes_on() -> None:
    stored: list[int] = []
    release = threading.Event()

    def store(frames: list[pl.DataFrame], source: str) -> list[IngestSummary]:
        release.wait(5)
        stored.extend(int(f["n"][0]) for f in frames)
        return [IngestSummary(received=f.height, accepted=f.height) for f in frames]

    commit = GroupCommit(store)

    async def main() -> IngestSummary:
        gone = asyncio.ensure_future(commit.submit_async(pl.DataFrame({"n": [1]}), "api"))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client went away while its batch was being stored
        release.set()
        return await commit.submit_async(pl.DataFrame({"n": [2]}), "api")

    assert asyncio.run(main()).accepted == 1
    assert stored == [1, 2]


def test_the_writer_thread_ends_when_idle_and_restarts_on_demand() -> None:
    calls: list[int] = []
    commit = GroupCommit(_recording_store(calls, 0.0), idle_seconds=0.05)
    assert commit.submit(pl.DataFrame({"n": [1]}), "api").accepted == 1
    writer = commit._writer
    assert writer is not None
    writer.join(2)
    assert not writer.is_alive() and commit._writer is None
    assert commit.submit(pl.DataFrame({"n": [2]}), "api").accepted == 2
    assert calls == [1, 1]
