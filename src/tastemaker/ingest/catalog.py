"""Validation of catalog items and users (column-wise, same rules for files and the API)."""

from __future__ import annotations

import polars as pl

from tastemaker.config import IngestConfig
from tastemaker.ingest.checks import (
    Check,
    as_text,
    blank,
    ensure_columns,
    first_failure,
    id_checks,
    refusals,
    refuse_reserved_names,
)
from tastemaker.ingest.timestamps import to_epoch_ms
from tastemaker.ingest.validate import ROW, Checked
from tastemaker.schema import ITEM_CORE_COLUMNS, USER_CORE_COLUMNS
from tastemaker.storage.frames import columns_to_attributes

_TRUE = ["true", "1", "yes", "y", "t"]
_FALSE = ["false", "0", "no", "n", "f"]


def _bool_column(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Normalize a boolean-ish column to Boolean; ``_bad_<name>`` marks unreadable values."""
    if name not in frame.columns or frame.schema[name] == pl.Null:
        return frame.with_columns(pl.lit(True).alias(name), pl.lit(False).alias(f"_bad_{name}"))
    if frame.schema[name] == pl.Boolean:
        return frame.with_columns(pl.col(name).fill_null(True), pl.lit(False).alias(f"_bad_{name}"))
    text = pl.col(name).cast(pl.String).str.strip_chars().str.to_lowercase()
    parsed = (
        pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False).otherwise(None)
    )
    return frame.with_columns(
        (parsed.is_null() & pl.col(name).is_not_null()).alias(f"_bad_{name}"),
        parsed.fill_null(True).alias(name),
    )


def validate_items(frame: pl.DataFrame, cfg: IngestConfig, *, first_row: int = 0) -> Checked:
    """Validate catalog rows; valid rows come out in storage shape (attributes packed as JSON)."""
    refuse_reserved_names(frame)
    frame = frame.with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))
    original = [c for c in frame.columns]
    frame = ensure_columns(frame, ("item_id", "category", "brand", "title", "text"))
    frame = as_text(frame, ("item_id", "category", "brand"))
    if "price" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("price"))
    frame = frame.with_columns(
        pl.col("price").alias("_price_raw"), pl.col("price").cast(pl.Float64, strict=False)
    )
    if "created_at" in frame.columns:
        frame = frame.with_columns(
            to_epoch_ms("created_at", frame.schema["created_at"]).alias("_created")
        )
    else:
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.Int64).alias("_created"), pl.lit(None).alias("created_at")
        )
    frame = _bool_column(frame, "in_stock")
    price_given = pl.col("_price_raw").is_not_null() & (pl.col("_price_raw").cast(pl.String) != "")
    checks = [
        *id_checks("item_id", cfg.max_id_length, required=True),
        Check(
            "price",
            price_given & ~(pl.col("price").is_finite() & (pl.col("price") >= 0)).fill_null(False),
            pl.format(
                "field 'price' = '{}' is not a finite number >= 0",
                pl.col("_price_raw").cast(pl.String),
            ),
        ),
        Check(
            "created_at",
            pl.col("created_at").is_not_null() & pl.col("_created").is_null(),
            pl.format(
                "field 'created_at' = '{}' is not a date (expected ISO 8601)",
                pl.col("created_at").cast(pl.String),
            ),
        ),
        Check("in_stock", pl.col("_bad_in_stock"), pl.lit("field 'in_stock' is not true or false")),
    ]
    frame = frame.with_columns(first_failure(checks).alias("_failure"))
    ok = pl.col("_failure").is_null()
    rejected = refusals(frame.filter(~ok), checks, "_failure").select(
        *original, "_field", "_reason"
    )
    valid = frame.filter(ok).with_columns(
        pl.col("_created").alias("created_at"),
        pl.when(blank("title"))
        .then(None)
        .otherwise(pl.col("title").cast(pl.String))
        .alias("title"),
        pl.when(blank("text")).then(None).otherwise(pl.col("text").cast(pl.String)).alias("text"),
    )
    valid = valid.drop([c for c in valid.columns if c.startswith("_") and c != ROW])
    valid = columns_to_attributes(valid, (ROW, *ITEM_CORE_COLUMNS))
    return Checked(valid=valid.select(ROW, *ITEM_CORE_COLUMNS, "attributes"), rejected=rejected)


def validate_users(frame: pl.DataFrame, cfg: IngestConfig, *, first_row: int = 0) -> Checked:
    """Validate user rows; valid rows come out with attributes packed as JSON (ids still raw)."""
    refuse_reserved_names(frame)
    frame = frame.with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))
    original = list(frame.columns)
    frame = ensure_columns(frame, ("user_id",))
    frame = as_text(frame, ("user_id",))
    frame = _bool_column(frame, "consent")
    checks = [
        *id_checks("user_id", cfg.max_id_length, required=True),
        Check("consent", pl.col("_bad_consent"), pl.lit("field 'consent' is not true or false")),
    ]
    frame = frame.with_columns(first_failure(checks).alias("_failure"))
    ok = pl.col("_failure").is_null()
    rejected = refusals(frame.filter(~ok), checks, "_failure").select(
        *original, "_field", "_reason"
    )
    valid = frame.filter(ok)
    valid = valid.drop([c for c in valid.columns if c.startswith("_") and c != ROW])
    valid = columns_to_attributes(valid, (ROW, *USER_CORE_COLUMNS))
    return Checked(valid=valid.select(ROW, *USER_CORE_COLUMNS, "attributes"), rejected=rejected)
