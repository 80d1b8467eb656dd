"""Validation of catalog items and users (column-wise, same rules for files and the API)."""

from __future__ import annotations

import polars as pl

from tastemaker.config import IngestConfig
from tastemaker.ingest import limits
from tastemaker.ingest.checks import (
    Check,
    as_text,
    blank,
    deep_text,
    dropped_column,
    ensure_columns,
    first_failure,
    id_checks,
    parser_checks,
    quoted,
    refusals,
    refuse_reserved_names,
    text_checks,
)
from tastemaker.ingest.timestamps import to_epoch_ms
from tastemaker.ingest.validate import ROW, Checked
from tastemaker.schema import ITEM_CORE_COLUMNS, USER_CORE_COLUMNS
from tastemaker.storage.frames import columns_to_attributes

_TRUE = ["true", "1", "yes", "y", "t"]
_FALSE = ["false", "0", "no", "n", "f"]
_ITEM_TEXT = ("category", "brand", "title", "text")
_LONG = "max_string_length"
#: Creation times an item may have (epoch ms, 1900-01-01 up to 2200-01-01): a time past the
#: calendar's ends would overflow wherever it is turned back into a date.
_CREATED_RANGE_MS = (-2_208_988_800_000, 7_258_118_400_000)


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


def attribute_columns(columns: list[str], core: tuple[str, ...]) -> list[str]:
    """The attribute columns of a catalog-like frame: neither core nor working columns."""
    return [c for c in columns if c not in core and not c.startswith("_")]


def _attribute_checks(
    frame: pl.DataFrame,
    core: tuple[str, ...],
    cfg: IngestConfig,
    known: frozenset[str] | None,
) -> list[Check]:
    """Per row: at most ``max_attributes`` attributes, each within length and depth; across
    the table at most ``max_attribute_names`` names (``known`` are the stored ones; None
    skips that rule)."""
    names = attribute_columns(frame.columns, core)
    checks: list[Check] = []
    if names:
        count = pl.sum_horizontal([pl.col(n).is_not_null() for n in names])
        checks.append(
            Check(
                "attributes",
                count > cfg.max_attributes,
                pl.format(
                    "{} attributes (at most {}: limit ingest.max_attributes)",
                    count,
                    pl.lit(cfg.max_attributes),
                ),
            )
        )
    if known is not None:
        used = [n for n in names if n not in known and frame[n].is_not_null().any()]
        over = used[max(cfg.max_attribute_names - len(known), 0) :]
        if over:
            first = pl.coalesce([pl.when(pl.col(n).is_not_null()).then(pl.lit(n)) for n in over])
            reason = f"{limits.too_many_names(cfg.max_attribute_names)}; the table has {len(known)}"
            checks.append(Check(first, first.is_not_null(), pl.lit(reason)))
    for name in names:
        if frame.schema[name] != pl.String:
            continue
        long = pl.col(name).str.len_chars() > cfg.max_string_length
        checks.append(
            Check(
                name,
                long,
                pl.lit(
                    f"field '{limits.clip(name)}' is longer than {cfg.max_string_length}"
                    f" characters (limit ingest.{_LONG})"
                ),
            )
        )
        checks.append(
            Check(
                name,
                deep_text(frame, name, cfg.max_json_depth),
                pl.lit(limits.too_deep(name, cfg.max_json_depth)),
            )
        )
    return checks


def _finish(
    frame: pl.DataFrame,
    checks: list[Check],
    original: list[str],
    core: tuple[str, ...],
    normalize: list[pl.Expr],
) -> Checked:
    """Number each row's first failure; valid rows normalized with attributes packed, refused
    rows with their original columns and reasons."""
    frame = frame.with_columns(first_failure(checks).alias("_failure"))
    ok = pl.col("_failure").is_null()
    keep = [c for c in original if c == ROW or not c.startswith("_")]
    rejected = refusals(frame.filter(~ok), checks, "_failure").select(
        *keep, "_field", "_reason", dropped_column(frame)
    )
    valid = frame.filter(ok).with_columns(normalize)
    valid = valid.drop([c for c in valid.columns if c.startswith("_") and c != ROW])
    names = frozenset(
        n for n in attribute_columns(valid.columns, core) if valid[n].is_not_null().any()
    )
    valid = columns_to_attributes(valid, (ROW, *core))
    return Checked(valid.select(ROW, *core, "attributes"), rejected, names)


def _item_checks(frame: pl.DataFrame, cfg: IngestConfig) -> list[Check]:
    """The item rules other than attributes, in the order a row's first failure is reported."""
    price_given = pl.col("_price_raw").is_not_null() & (pl.col("_price_raw").cast(pl.String) != "")
    return [
        *parser_checks(frame.columns),
        *id_checks("item_id", cfg.max_id_length, required=True),
        *(c for name in _ITEM_TEXT for c in text_checks(name, cfg.max_string_length, _LONG)),
        Check(
            "price",
            price_given & ~(pl.col("price").is_finite() & (pl.col("price") >= 0)).fill_null(False),
            pl.format(
                "field 'price' = '{}' is not a finite number >= 0", quoted(pl.col("_price_raw"))
            ),
        ),
        Check(
            "created_at",
            pl.col("created_at").is_not_null() & pl.col("_created").is_null(),
            pl.format(
                "field 'created_at' = '{}' is not a date (expected ISO 8601)",
                quoted(pl.col("created_at")),
            ),
        ),
        Check(
            "created_at",
            ~pl.col("_created").is_between(*_CREATED_RANGE_MS).fill_null(True),
            pl.format(
                "field 'created_at' = '{}' is outside 1900..2200", quoted(pl.col("created_at"))
            ),
        ),
        Check("in_stock", pl.col("_bad_in_stock"), pl.lit("field 'in_stock' is not true or false")),
    ]


def validate_items(
    frame: pl.DataFrame,
    cfg: IngestConfig,
    *,
    first_row: int = 0,
    known_names: frozenset[str] | None = None,
) -> Checked:
    """Validate catalog rows; valid rows come out in storage shape (attributes packed as JSON).

    Args:
        frame: raw rows (a file's or an API body's).
        cfg: rules and limits.
        first_row: number of the first row in messages.
        known_names: attribute names the catalog holds already (None: no catalog-wide limit).
    """
    refuse_reserved_names(frame)
    frame = frame.with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))
    original = list(frame.columns)
    attribute_checks = _attribute_checks(frame, ITEM_CORE_COLUMNS, cfg, known_names)
    frame = as_text(ensure_columns(frame, ("item_id", *_ITEM_TEXT)), ("item_id", *_ITEM_TEXT))
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
    checks = [*_item_checks(frame, cfg), *attribute_checks]
    normalize = [
        pl.col("_created").alias("created_at"),
        *(pl.when(blank(c)).then(None).otherwise(pl.col(c)).alias(c) for c in ("title", "text")),
    ]
    return _finish(frame, checks, original, ITEM_CORE_COLUMNS, normalize)


def validate_users(
    frame: pl.DataFrame,
    cfg: IngestConfig,
    *,
    first_row: int = 0,
    known_names: frozenset[str] | None = None,
) -> Checked:
    """Validate user rows; valid rows come out with attributes packed as JSON (ids still raw).

    ``known_names`` are the attribute names stored users hold (None: no table-wide limit).
    """
    refuse_reserved_names(frame)
    frame = frame.with_row_index(ROW, offset=first_row).with_columns(pl.col(ROW).cast(pl.Int64))
    original = list(frame.columns)
    attribute_checks = _attribute_checks(frame, USER_CORE_COLUMNS, cfg, known_names)
    frame = as_text(ensure_columns(frame, ("user_id",)), ("user_id",))
    frame = _bool_column(frame, "consent")
    checks = [
        *parser_checks(frame.columns),
        *id_checks("user_id", cfg.max_id_length, required=True),
        Check("consent", pl.col("_bad_consent"), pl.lit("field 'consent' is not true or false")),
        *attribute_checks,
    ]
    return _finish(frame, checks, original, USER_CORE_COLUMNS, [])
