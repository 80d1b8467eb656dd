"""Served lists are buffered without waking the writer per request and never lost on close."""

from __future__ import annotations

import time
from typing import Any

import polars as pl

from tastemaker.serving.impressions import ImpressionLogger, Served
from tastemaker.serving.runtime import new_request_id


class _Ingestor:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def ingest_events(self, frame: pl.DataFrame, source: str, **kwargs: Any) -> None:
        assert source == "serving" and kwargs == {"ids_pseudonymized": True}
        self.frames.append(frame)


def _served(i: int) -> Served:
    return Served(f"r{i}", "key-1", ["a", "b"], "v0001", "control", "home", 1_700_000_000_000)


def test_buffered_lists_are_written_on_close_and_when_a_batch_fills() -> None:
    sink = _Ingestor()
    logger = ImpressionLogger(sink, flush_seconds=3600, batch=3)  # type: ignore[arg-type]
    logger.log(_served(1))
    assert sink.frames == []  # nothing written per request
    logger.log(_served(2))
    logger.log(_served(3))  # a full batch wakes the writer
    logger.log(_served(4))
    logger.close()
    rows = pl.concat(sink.frames)
    assert rows.height == 8 and logger.logged == 8
    assert sorted(set(rows["event_id"].str.extract(r"imp-(r\d)"))) == ["r1", "r2", "r3", "r4"]
    assert rows["user_id"].unique().to_list() == ["key-1"]


def test_a_full_buffer_drops_and_counts() -> None:
    sink = _Ingestor()
    logger = ImpressionLogger(sink, max_queue=2, flush_seconds=3600)  # type: ignore[arg-type]
    for i in range(5):
        logger.log(_served(i))
    assert logger.dropped == 3
    logger.flush()
    assert pl.concat(sink.frames).height == 4


def test_request_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids) and all(len(i) == 25 for i in ids)
    first = ids[0]
    time.sleep(0.002)
    assert new_request_id() > first  # impression ids append to the event-id index
