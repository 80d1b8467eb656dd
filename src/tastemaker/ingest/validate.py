"""Column-wise validation of events: every row is accepted or refused with field and reason."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import polars as pl

from tastemaker.config import IngestConfig
from tastemaker.ingest.checks import (
    REFUSED,
    Check,
    blank,
    dropped_column,
    first_failure,
    id_checks,
    json_checks,
    json_object_columns,
    parser_checks,
    quoted,
    refusals,
    refuse_reserved_names,
    text_columns,
)
from tastemaker.ingest.timestamps import text_to_epoch_ms, to_epoch_ms
from tastemaker.schema import EVENT_COLUMNS, EVENT_TYPES, ITEM_EVENT_TYPES

_ID_COLUMNS = ("event_id", "user_id", "anonymous_id", "type", "item_id", "session_id")
ROW = "_row"
#: working column: the latest timestamp accepted (now + ``max_future_seconds``), in epoch ms
_MAX_TS = "_max_ts"


@dataclass(frozen=True)
class Checked:
    """Result of validation: normalized valid rows and refused rows with reasons.

    ``valid`` has the columns of `EVENT_COLUMNS` (timestamp as epoch ms) plus ``_row``;
    ``rejected`` keeps the original columns plus ``_row``, ``_field``, ``_reason`` and
    ``_dropped`` (what the body parser removed from the row, else null). For items and users
    ``attribute_names`` are the attribute names the valid rows hold.
    """

    valid: pl.DataFrame
    rejected: pl.DataFrame
    attribute_names: frozenset[str] = frozenset()


def _identity_checks(cfg: IngestConfig) -> list[Check]:
    """Ids present and bounded, a known type, an item for item events."""
    known = sorted(EVENT_TYPES)
    n = cfg.max_id_length
    return [
        *id_checks("event_id", n, required=True),
        Check(
            "user_id",
            blank("user_id") & blank("anonymous_id"),
            pl.lit("field 'user_id' is required (or 'anonymous_id' for a visitor not logged in)"),
        ),
        *id_checks("user_id", n, required=False),
        *id_checks("anonymous_id", n, required=False),
        *id_checks("type", 64, required=True),
        Check(
            "type",
            ~pl.col("type").is_in(known),
            pl.format(
                "field 'type' = '{}' is not a known event type (expected one of {})",
                quoted(pl.col("type")),
                pl.lit(", ".join(known)),
            ),
        ),
        Check(
            "item_id",
            pl.col("type").is_in(sorted(ITEM_EVENT_TYPES)) & blank("item_id"),
            pl.format("field 'item_id' is required for a '{}' event", quoted(pl.col("type"))),
        ),
        *id_checks("item_id", n, required=False),
        *id_checks("session_id", n, required=False),
    ]


def _timestamp_checks(cfg: IngestConfig, raw_ts: pl.Expr) -> list[Check]:
    """Timestamp present, parseable, not before ``min_timestamp`` nor far in the future
    (after ``_max_ts``, a column holding now + ``max_future_seconds``)."""
    min_ms = int(datetime.fromisoformat(cfg.min_timestamp).timestamp() * 1000)
    shown = quoted(raw_ts)
    return [
        Check("timestamp", raw_ts.is_null(), pl.lit("field 'timestamp' is required")),
        Check(
            "timestamp",
            pl.col("_ts").is_null(),
            pl.format(
                "field 'timestamp' = '{}' is not a date"
                " (expected ISO 8601, e.g. 2026-01-31T12:00:00Z)",
                shown,
            ),
        ),
        Check(
            "timestamp",
            pl.col("_ts") < min_ms,
            pl.format("field 'timestamp' = '{}' is before {}", shown, pl.lit(cfg.min_timestamp)),
        ),
        Check(
            "timestamp",
            pl.col("_ts") > pl.col(_MAX_TS),
            pl.format(
                "field 'timestamp' = '{}' is more than {} s in the future",
                shown,
                pl.lit(int(cfg.max_future_seconds)),
            ),
        ),
    ]


def _payload_checks(cfg: IngestConfig) -> list[Check]:
    """A finite value; context and properties JSON objects within size and depth."""
    return [
        Check(
            "value",
            pl.col("_value_raw").is_not_null() & ~pl.col("_value").is_finite().fill_null(False),
            pl.format("field 'value' = '{}' is not a finite number", quoted(pl.col("_value_raw"))),
        ),
        *json_checks("context", cfg),
        *json_checks("properties", cfg),
    ]


def _event_checks(columns: Collection[str], cfg: IngestConfig) -> list[Check]:
    """Every event rule for a frame of ``columns``, in the order a row's first failure is
    reported."""
    return [
        *parser_checks(columns),
        *_identity_checks(cfg),
        *_timestamp_checks(cfg, pl.col("timestamp")),
        *_payload_checks(cfg),
    ]


@dataclass(frozen=True)
class _Rules:
    """The event rules of one set of limits, with the expressions every batch evaluates."""

    checks: list[Check]
    #: `first_failure` of the checks, named ``_failure``
    failure: pl.Expr
    #: the valid rows in storage shape (``_row``, then `EVENT_COLUMNS` in order)
    valid: list[pl.Expr]


def _rules(frame: pl.DataFrame, cfg: IngestConfig) -> _Rules:
    """The rules for ``frame`` (with or without the body parser's column) under ``cfg``."""
    return _rules_of(REFUSED in frame.columns, cfg.model_dump_json())


# Building the ~20 checks and their rule chain took about a millisecond per API batch, as
# much as evaluating them on a small batch; they depend only on the limits, so each process
# builds them once per set of limits (a few are kept: settings rarely change).
@lru_cache(maxsize=64)
def _rules_of(parsed: bool, limits: str) -> _Rules:
    """The rules of ``limits`` (an `IngestConfig` as JSON), with the body parser's check
    when ``parsed``."""
    checks = _event_checks([REFUSED] if parsed else [], IngestConfig.model_validate_json(limits))
    nulled = ("user_id", "anonymous_id", "item_id", "session_id")
    source = {c: pl.col(c) for c in (ROW, "event_id", "type", "context", "properties")}
    source |= {"value": pl.col("_value"), "timestamp": pl.col("_ts")}
    source |= {c: pl.when(blank(c)).then(None).otherwise(pl.col(c)) for c in nulled}
    valid = [source[c].alias(c) for c in (ROW, *EVENT_COLUMNS)]
    return _Rules(checks, first_failure(checks).alias("_failure"), valid)


def _prepare(frame: pl.DataFrame, cfg: IngestConfig, max_ms: int) -> pl.LazyFrame:
    schema = frame.schema
    ts_type = schema.get("timestamp", pl.String())
    text = (*_ID_COLUMNS, *(() if "timestamp" in schema else ("timestamp",)))
    lazy = frame.lazy().with_columns(
        *text_columns(schema, text),
        pl.lit(max_ms, dtype=pl.Int64).alias(_MAX_TS),
        *json_object_columns(frame, "context", cfg.max_json_depth),
        *json_object_columns(frame, "properties", cfg.max_json_depth),
    )
    if ts_type == pl.String and "timestamp" in schema:
        lazy = lazy.with_columns(text_to_epoch_ms(frame["timestamp"]).alias("_ts"))
    else:
        lazy = lazy.with_columns(to_epoch_ms("timestamp", ts_type).alias("_ts"))
    if "value" not in schema:
        value_raw = pl.lit(None, dtype=pl.Float64)
    elif schema["value"] == pl.String:
        value_raw = pl.when(blank("value")).then(None).otherwise(pl.col("value"))
    else:
        value_raw = pl.col("value")
    return lazy.with_columns(value_raw.alias("_value_raw")).with_columns(
        pl.col("_value_raw").cast(pl.Float64, strict=False).alias("_value")
    )


def validate_events(
    frame: pl.DataFrame, cfg: IngestConfig, *, first_row: int = 0, now: datetime | None = None
) -> Checked:
    """Validate a batch of raw events column-wise.

    Args:
        frame: raw events (file rows or an API batch) with the columns of `EVENT_COLUMNS`.
        cfg: ingestion limits.
        first_row: number given to the first row in messages (0 for API batches, 1 for files).
        now: the current time, for the "not in the future" rule.

    Returns:
        The accepted rows normalized for storage and the refused rows with reasons.
    """
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    refuse_reserved_names(frame)
    original = list(frame.columns)
    frame = frame.with_row_index(ROW, offset=first_row)
    rules = _rules(frame, cfg)
    max_ms = now_ms + int(cfg.max_future_seconds * 1000)
    # One run of the plan, then the split: valid rows in storage shape, refused rows with
    # the working columns their reasons quote (two plans run together cost more).
    checked = (
        _prepare(frame, cfg, max_ms)
        .with_columns(pl.col(ROW).cast(pl.Int64), rules.failure)
        .collect()
    )
    ok = pl.col("_failure").is_null()
    valid_rows = checked.filter(ok).select(rules.valid)
    keep = [c for c in original if not c.startswith("_")]
    rejected = refusals(checked.filter(~ok), rules.checks, "_failure").select(
        ROW, *keep, "_field", "_reason", dropped_column(frame)
    )
    return Checked(valid=valid_rows, rejected=rejected)
