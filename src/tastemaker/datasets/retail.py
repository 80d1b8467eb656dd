"""UCI Online Retail loader (invoice lines; cancellations start with ``C``).

Lines with a customer become ``purchase`` events (``value`` = quantity x unit price,
``session_id`` = invoice). Lines without a customer are not personal: they are returned
as ``extras["guest_events"]`` (``anonymous_id`` = ``guest-<invoice>``) for basket
statistics only. Cancellations and non-positive quantities are kept in
``extras["lines"]`` (flagged) but produce no events.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tastemaker.datasets._frames import LoadedDataset, finish_events
from tastemaker.errors import ValidationFailedError

COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)


def read_lines(path: str | Path) -> pl.DataFrame:
    """Read the invoice lines (CSV, optionally gzipped) with typed, cleaned columns."""
    p = Path(path)
    if p.is_dir():
        p = next(iter(sorted(p.glob("*.csv*"))), p)
    if not p.is_file():
        raise ValidationFailedError(f"{p}: no Online Retail CSV found", field="path")
    raw = pl.read_csv(p, infer_schema=False)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ValidationFailedError(f"{p}: missing columns {missing} (expected {COLUMNS})")
    customer = pl.col("CustomerID").str.strip_chars().str.replace(r"\.0+$", "")
    return raw.select(
        pl.col("InvoiceNo").alias("invoice"),
        pl.col("StockCode").alias("item_id"),
        pl.col("Description").str.strip_chars().alias("description"),
        pl.col("Quantity").cast(pl.Int64).alias("quantity"),
        pl.col("InvoiceDate")
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ms", strict=False)
        .dt.replace_time_zone("UTC")
        .alias("timestamp"),
        pl.col("UnitPrice").cast(pl.Float64).alias("unit_price"),
        pl.when(customer == "").then(None).otherwise(customer).alias("customer_id"),
        pl.col("Country").alias("country"),
        pl.col("InvoiceNo").str.starts_with("C").alias("cancelled"),
        pl.int_range(pl.len()).alias("line"),
    )


def load_online_retail(path: str | Path) -> LoadedDataset:
    """Load UCI Online Retail into purchase events, items, customers and basket lines."""
    lines = read_lines(path)
    sold = lines.filter(~pl.col("cancelled") & (pl.col("quantity") > 0))
    base = sold.select(
        pl.format("or-{}-{}", pl.col("invoice"), pl.col("line")).alias("event_id"),
        pl.col("customer_id").alias("user_id"),
        pl.lit("purchase").alias("type"),
        pl.col("item_id"),
        (pl.col("quantity") * pl.col("unit_price")).alias("value"),
        pl.col("timestamp"),
        pl.col("invoice").alias("session_id"),
    )
    events = finish_events(base.filter(pl.col("user_id").is_not_null()))
    guests = finish_events(
        base.filter(pl.col("user_id").is_null()).with_columns(
            pl.format("guest-{}", pl.col("session_id")).alias("anonymous_id")
        )
    )
    items = (
        sold.group_by("item_id")
        .agg(
            pl.col("description").drop_nulls().mode().first().alias("title"),
            pl.col("unit_price").filter(pl.col("unit_price") >= 0).median().alias("price"),
        )
        .with_columns(pl.col("title").alias("text"))
        .sort("item_id")
    )
    users = (
        lines.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(pl.col("country").mode().first())
        .select(pl.col("customer_id").alias("user_id"), pl.lit(True).alias("consent"), "country")
        .sort("user_id")
    )
    return LoadedDataset(
        "online-retail", events, items, users, {"guest_events": guests, "lines": lines}
    )
