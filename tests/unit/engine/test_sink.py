"""Platform events are buffered without waking the writer per request and never lost on close."""

from __future__ import annotations

import time
from typing import Any

import polars as pl

from tastemaker.engine.events import (
    PLATFORM_EVENT_SCHEMA,
    Feedback,
    ServedFeatured,
    ServedListImpression,
    ServedRecommendations,
    records_frame,
)
from tastemaker.engine.runtime import new_request_id
from tastemaker.engine.sink import EventSink
from tastemaker.errors import StoreUnavailableError


class _Ingestor:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.down = False

    def ingest_events(self, frame: pl.DataFrame, source: str, **kwargs: Any) -> None:
        assert source == "platform" and kwargs == {"ids_pseudonymized": True}
        if self.down:
            raise StoreUnavailableError("the store cannot be reached")
        self.frames.append(frame)


def _served(i: int) -> ServedRecommendations:
    return ServedRecommendations(
        f"r{i}", "key-1", ["a", "b"], "v0001", "control", "home", 1_700_000_000_000 + i
    )


def test_buffered_lists_are_written_on_close_and_when_a_batch_fills() -> None:
    ingestor = _Ingestor()
    sink = EventSink(ingestor, flush_seconds=3600, batch=3)  # type: ignore[arg-type]
    sink.put(_served(1))
    assert ingestor.frames == []  # nothing written per request
    sink.put(_served(2))
    sink.put(_served(3))  # a full batch wakes the writer
    sink.put(_served(4))
    sink.close()
    rows = pl.concat(ingestor.frames)
    assert rows.height == 8 and sink.stored == 8
    assert sorted(set(rows["event_id"].str.extract(r"imp-(r\d)"))) == ["r1", "r2", "r3", "r4"]
    assert rows["user_id"].unique().to_list() == ["key-1"]


def test_a_full_buffer_drops_and_counts() -> None:
    ingestor = _Ingestor()
    sink = EventSink(ingestor, max_queue=2, flush_seconds=3600)  # type: ignore[arg-type]
    for i in range(5):
        sink.put(_served(i))
    assert sink.dropped == 3
    sink.flush()
    assert pl.concat(ingestor.frames).height == 4


def test_records_the_store_could_not_take_are_stored_when_it_is_back() -> None:
    """`tastemaker bench chaos` found impressions dropped while PostgreSQL was down."""
    ingestor = _Ingestor()
    sink = EventSink(ingestor, max_queue=5, flush_seconds=3600)  # type: ignore[arg-type]
    ingestor.down = True
    sink.put(_served(1))
    sink.put(_served(2))
    assert sink._write(raise_errors=False) is None  # the background thread's write fails
    sink.put(_served(3))
    ingestor.down = False
    sink.close()
    rows = pl.concat(ingestor.frames)
    assert rows["event_id"].to_list() == [f"imp-r{i}-{p}" for i in (1, 2, 3) for p in (1, 2)]
    assert sink.failed == 0 and sink.dropped == 0 and sink.stored == 6


def test_records_of_every_kind_become_one_typed_frame() -> None:
    at = 1_700_000_000_123
    frame = records_frame(
        [
            _served(1),
            ServedFeatured("imp-f", None, "anon-1", "c", {"rule": "fallback:random"}, at),
            Feedback("fb-1", "key-2", "d", {"kind": "dont_show_again"}, at),
            ServedListImpression(_served(2)),
        ]
    )
    assert frame.schema == pl.Schema(PLATFORM_EVENT_SCHEMA)
    assert frame["type"].to_list() == ["impression"] * 3 + ["not_interested", "impression"]
    assert frame["event_id"].to_list() == ["imp-r1-1", "imp-r1-2", "imp-f", "fb-1", "imp-r2"]
    # timestamps stay datetimes to the millisecond: no text formatting and parsing again
    assert frame["timestamp"].dt.epoch("ms").to_list()[2:4] == [at, at]
    assert frame["item_id"].to_list()[:2] == ["a", "b"]
    assert frame["anonymous_id"].to_list()[2] == "anon-1"


def test_an_anonymous_featured_request_is_logged_as_unidentified() -> None:
    frame = records_frame([ServedFeatured("imp-x", None, None, "c", {}, 0)])
    assert frame["anonymous_id"].to_list() == ["unidentified"]


def test_request_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids) and all(len(i) == 25 for i in ids)
    first = ids[0]
    time.sleep(0.002)
    assert new_request_id() > first  # impression ids append to the event-id index
