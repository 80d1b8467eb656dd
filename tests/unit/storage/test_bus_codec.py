"""Bus entries as Arrow IPC: a partition's events come back as the columns JSON gave."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import polars as pl

from tastemaker.storage.bus import (
    decode_columns,
    decode_frame,
    encode_frame,
    split_by_partition,
    split_frames,
)
from tastemaker.storage.frames import EVENT_SCHEMA


def _events() -> pl.DataFrame:
    n = 9
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "user_id": ["u1", None, "u2", "u1", None, "u3", "u2", "ü", ""],
            "anonymous_id": [None, "v1", None, None, "v2", None, None, None, None],
            "type": ["view"] * n,
            "item_id": ["i1", "i2", None, "i3", "i4", "i5", "i6", "i7", "i8"],
            "value": [1.5, None, 2.0, 4.0, 0.0, -3.25, None, 1e300, 7.0],
            "timestamp": [datetime(2026, 1, 1, 10, i, tzinfo=UTC) for i in range(n)],
            "context": ['{"a":1}', None, "{}", None, None, '{"b":"é"}', None, None, None],
        },
        schema_overrides={"user_id": pl.String, "anonymous_id": pl.String},
    )


def test_a_partition_round_trips_with_the_event_schema() -> None:
    frames = split_frames(_events(), 3)
    columns = split_by_partition(_events(), 3)
    assert frames.keys() == columns.keys() and len(frames) > 1
    for p, frame in frames.items():
        decoded = decode_frame(encode_frame(frame))
        assert decoded == columns[p]
        assert list(decoded) == list(EVENT_SCHEMA)  # every column, missing ones as nulls
        assert pl.DataFrame(decoded, schema=EVENT_SCHEMA).equals(frame)
        # what a JSON entry of the same events decoded to (older entries still read)
        assert decode_columns(orjson.dumps(columns[p])) == decoded


def test_partitions_keep_each_users_events_in_order() -> None:
    frames = split_frames(_events(), 3)
    assert sum(f.height for f in frames.values()) == 9
    for frame in frames.values():
        keys = frame.select(pl.coalesce("user_id", "anonymous_id").alias("k"))["k"]
        assert frame["event_id"].to_list() == sorted(frame["event_id"].to_list())
        for key in keys.unique().drop_nulls():
            assert all(key not in f["user_id"].to_list() for f in frames.values() if f is not frame)


def test_one_partition_and_no_events() -> None:
    assert list(split_frames(_events(), 1)) == [0]
    empty = split_frames(_events().head(0), 4)
    assert list(empty) == [0] and empty[0].height == 0
    assert decode_frame(encode_frame(empty[0])) == {c: [] for c in EVENT_SCHEMA}
