"""RetailRocket clickstream loader (``events.csv``: view / addtocart / transaction).

``events.csv`` columns: ``timestamp`` (epoch ms), ``visitorid``, ``event``, ``itemid``,
``transactionid``. Optional ``item_properties*.csv`` (``timestamp, itemid, property,
value``) give each item its latest ``categoryid`` (as ``category``) and availability.
Sessions are cut after 30 minutes of inactivity per visitor.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tastemaker.datasets._frames import LoadedDataset, finish_events
from tastemaker.errors import ValidationFailedError

EVENT_TYPES = {"view": "view", "addtocart": "add_to_cart", "transaction": "purchase"}
SESSION_GAP_MS = 30 * 60 * 1000


def load_retailrocket(path: str | Path) -> LoadedDataset:
    """Load a RetailRocket folder (or an ``events.csv`` path) into tastemaker frames."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    events_file = p if p.is_file() else p / "events.csv"
    if not events_file.is_file():
        raise ValidationFailedError(f"{events_file}: RetailRocket events.csv not found")
    raw = pl.read_csv(events_file, infer_schema=False)
    frame = raw.select(
        pl.col("timestamp").cast(pl.Int64).alias("ts"),
        pl.col("visitorid").alias("user_id"),
        pl.col("event").replace_strict(EVENT_TYPES, default=None).alias("type"),
        pl.col("itemid").alias("item_id"),
        pl.col("transactionid"),
        pl.int_range(pl.len()).alias("row"),
    ).sort("user_id", "ts")
    gap = (pl.col("ts") - pl.col("ts").shift(1)) > SESSION_GAP_MS
    new = (pl.col("user_id") != pl.col("user_id").shift(1)) | gap
    frame = frame.with_columns(new.fill_null(True).cum_sum().alias("sess"))
    events = finish_events(
        frame.filter(pl.col("type").is_not_null()).select(
            pl.format("rr-{}", pl.col("row")).alias("event_id"),
            "user_id",
            "type",
            "item_id",
            pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("timestamp"),
            pl.format("{}-{}", pl.col("user_id"), pl.col("sess")).alias("session_id"),
            pl.when(pl.col("transactionid").is_not_null())
            .then(pl.format('{{"transaction_id": "{}"}}', pl.col("transactionid")))
            .otherwise(pl.lit("{}"))
            .alias("properties"),
        )
    )
    items = _items(folder, events)
    users = (
        events.select("user_id")
        .unique(maintain_order=True)
        .with_columns(pl.lit(True).alias("consent"))
    )
    return LoadedDataset("retailrocket", events, items, users)


def _items(folder: Path, events: pl.DataFrame) -> pl.DataFrame:
    ids = events.select("item_id").unique().sort("item_id")
    files = sorted(folder.glob("item_properties*.csv"))
    if not files:
        return ids
    props = pl.concat([pl.read_csv(f, infer_schema=False) for f in files])
    latest = (
        props.filter(pl.col("property").is_in(["categoryid", "available"]))
        .with_columns(pl.col("timestamp").cast(pl.Int64))
        .sort("timestamp")
        .group_by("itemid", "property")
        .agg(pl.col("value").last())
        .pivot(on="property", index="itemid", values="value")
        .rename({"itemid": "item_id"})
    )
    out = ids.join(latest, on="item_id", how="left")
    if "categoryid" in out.columns:
        out = out.rename({"categoryid": "category"})
    if "available" in out.columns:
        out = out.with_columns((pl.col("available") == "1").alias("in_stock")).drop("available")
    return out
