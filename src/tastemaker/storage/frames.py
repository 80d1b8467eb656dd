"""Conversions between database rows and polars frames (attributes JSON <-> columns)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import orjson
import polars as pl

from tastemaker.schema import EVENT_COLUMNS

#: Events as validated and pseudonymized by ingestion: `EVENT_COLUMNS`, timestamp in epoch ms.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "user_id": pl.String(),
    "anonymous_id": pl.String(),
    "type": pl.String(),
    "item_id": pl.String(),
    "value": pl.Float64(),
    "timestamp": pl.Int64(),
    "session_id": pl.String(),
    "context": pl.String(),
    "properties": pl.String(),
}
assert tuple(EVENT_SCHEMA) == EVENT_COLUMNS

#: The events table calls the timestamp column `ts`.
_TABLE_NAME = {"timestamp": "ts"}

#: Columns read from the events table, in order.
EVENT_READ_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    **{_TABLE_NAME.get(k, k): v for k, v in EVENT_SCHEMA.items()},
}

#: Columns written to the events table, in order.
EVENT_WRITE_COLUMNS: tuple[str, ...] = (
    *(_TABLE_NAME.get(c, c) for c in EVENT_COLUMNS),
    "received_at",
)


def rows_to_frame(rows: Sequence[Sequence[Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame with ``schema`` from database rows (column order = schema order)."""
    if not rows:
        return pl.DataFrame(schema=schema)
    columns = list(zip(*rows, strict=True))
    return pl.DataFrame(
        {
            name: pl.Series(name, col, dtype=dtype)
            for (name, dtype), col in zip(schema.items(), columns, strict=True)
        }
    )


def attributes_to_columns(frame: pl.DataFrame, column: str = "attributes") -> pl.DataFrame:
    """Expand a JSON-object text column into one column per key (missing keys are null)."""
    if column not in frame.columns:
        return frame
    if frame.height == 0:
        return frame.drop(column)
    decoded = [orjson.loads(v) if v else {} for v in frame[column].to_list()]
    taken = set(frame.columns)
    keys = [k for k in dict.fromkeys(chain.from_iterable(decoded)) if k not in taken]
    extra = {k: [d.get(k) for d in decoded] for k in keys}
    out = frame.drop(column)
    if extra:
        out = out.hstack(pl.DataFrame(extra, strict=False))
    return out


def columns_to_attributes(frame: pl.DataFrame, core: Sequence[str]) -> pl.DataFrame:
    """Pack every column not in ``core`` into a JSON-object text column ``attributes``."""
    extra = [c for c in frame.columns if c not in core]
    if not extra:
        return frame.with_columns(pl.lit("{}").alias("attributes"))
    packed = [
        orjson.dumps({k: v for k, v in row.items() if v is not None}).decode()
        for row in frame.select(extra).iter_rows(named=True)
    ]
    return frame.drop(extra).with_columns(pl.Series("attributes", packed, dtype=pl.String))
