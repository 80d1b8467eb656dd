"""Shared shape of what the public-data loaders return."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from tastemaker.schema import EVENT_COLUMNS


@dataclass
class LoadedDataset:
    """Events, items and users in tastemaker's schema, plus loader-specific extras.

    ``events`` has the store's event columns (``EVENT_COLUMNS``) with ``timestamp`` as
    ``Datetime("ms", "UTC")``; ``items`` has ``item_id`` plus core columns and attributes;
    ``users`` has ``user_id``, ``consent`` and attributes; ``extras`` holds frames such as
    retail basket lines that are not personal events.
    """

    name: str
    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame
    extras: dict[str, pl.DataFrame] = field(default_factory=dict)


def finish_events(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing event columns as nulls and order them as ``EVENT_COLUMNS``."""
    defaults: dict[str, pl.Expr] = {
        "event_id": pl.lit(None, pl.String),
        "user_id": pl.lit(None, pl.String),
        "anonymous_id": pl.lit(None, pl.String),
        "type": pl.lit(None, pl.String),
        "item_id": pl.lit(None, pl.String),
        "value": pl.lit(None, pl.Float64),
        "timestamp": pl.lit(None, pl.Datetime("ms", "UTC")),
        "session_id": pl.lit(None, pl.String),
        "context": pl.lit("{}", pl.String),
        "properties": pl.lit("{}", pl.String),
    }
    exprs = [pl.col(c) if c in frame.columns else defaults[c].alias(c) for c in EVENT_COLUMNS]
    return frame.select(exprs)


def epoch_seconds(col: str) -> pl.Expr:
    """Epoch seconds column -> ``Datetime("ms", "UTC")``."""
    return (
        pl.from_epoch(pl.col(col).cast(pl.Int64), time_unit="s")
        .dt.cast_time_unit("ms")
        .dt.replace_time_zone("UTC")
    )
