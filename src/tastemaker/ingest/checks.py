"""Building blocks for column-wise validation: ordered checks that name field and reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson
import polars as pl

from tastemaker.errors import ValidationFailedError


@dataclass(frozen=True)
class Check:
    """A rule: rows where ``failed`` is true are refused for ``field`` with ``reason``."""

    field: str
    failed: pl.Expr
    reason: pl.Expr


def refuse_reserved_names(frame: pl.DataFrame) -> None:
    """Refuse input columns whose names validation cannot hold as plain field names.

    Names starting with ``_`` are validation's own working columns; ``*`` and names of the
    form ``^...$`` would be read by the column engine as a wildcard or a pattern.

    Raises:
        ValidationFailedError: naming the first such column.
    """
    for name in frame.columns:
        if name.startswith("_"):
            raise ValidationFailedError(
                f"field '{name}': names starting with '_' are reserved; rename the field"
            )
        if name == "*" or (name.startswith("^") and name.endswith("$")):
            raise ValidationFailedError(
                f"field '{name}': '*' and names of the form '^...$' are not allowed; "
                "rename the field"
            )


def first_failure(checks: list[Check]) -> pl.Expr:
    """Return an expression numbering each row's first failing check (null when none fails).

    Only this cheap number is computed for every row; `refusals` words the few refused ones.
    """
    number: Any = pl
    for i, check in enumerate(checks):
        number = number.when(check.failed).then(pl.lit(i, dtype=pl.Int32))
    return cast(pl.Expr, number.otherwise(pl.lit(None, dtype=pl.Int32)))


def refusals(frame: pl.DataFrame, checks: list[Check], failure: str) -> pl.DataFrame:
    """Add ``_field`` and ``_reason`` to refused rows (column ``failure`` from `first_failure`)."""
    if frame.height == 0:
        return frame.with_columns(
            pl.lit(None, dtype=pl.String).alias("_field"),
            pl.lit(None, dtype=pl.String).alias("_reason"),
        )
    which = pl.col(failure)
    field: Any = pl
    reason: Any = pl
    for i, check in enumerate(checks):
        field = field.when(which == i).then(pl.lit(check.field))
        reason = reason.when(which == i).then(check.reason)
    return frame.with_columns(
        field.otherwise(None).cast(pl.String).alias("_field"),
        reason.otherwise(None).cast(pl.String).alias("_reason"),
    )


def blank(name: str) -> pl.Expr:
    """True where a text column is null or only white space."""
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def id_checks(name: str, max_length: int, *, required: bool) -> list[Check]:
    """Checks for an identifier column: present (if required) and not longer than ``max_length``."""
    checks = []
    if required:
        checks.append(Check(name, blank(name), pl.lit(f"field '{name}' is required")))
    checks.append(
        Check(
            name,
            pl.col(name).str.len_chars() > max_length,
            pl.lit(f"field '{name}' is longer than {max_length} characters"),
        )
    )
    return checks


def text_columns(schema: pl.Schema, names: tuple[str, ...]) -> list[pl.Expr]:
    """Expressions making ``names`` text columns: missing ones as nulls, numbers as text."""
    exprs = []
    for n in names:
        dtype = schema.get(n)
        if dtype is None:
            exprs.append(pl.lit(None, dtype=pl.String).alias(n))
        elif dtype.is_float():
            # 17850.0 -> "17850": ids exported from spreadsheets often carry a spurious ".0".
            exprs.append(pl.col(n).cast(pl.String).str.replace(r"\.0$", "").alias(n))
        elif dtype != pl.String:
            exprs.append(pl.col(n).cast(pl.String).alias(n))
    return exprs


def ensure_columns(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """Add missing columns as nulls so checks can report them as missing."""
    missing = [pl.lit(None, dtype=pl.String).alias(n) for n in names if n not in frame.columns]
    return frame.with_columns(missing) if missing else frame


def as_text(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """Cast identifier-like columns to text (CSV readers may have inferred numbers)."""
    exprs = text_columns(frame.schema, names)
    return frame.with_columns(exprs) if exprs else frame


def json_object_columns(frame: pl.DataFrame, name: str) -> list[pl.Expr]:
    """Expressions making ``name`` JSON-object text and flagging bad rows in ``_bad_<name>``."""
    ok = pl.lit(False).alias(f"_bad_{name}")
    dtype = frame.schema.get(name)
    if dtype is None or dtype == pl.Null:
        return [pl.lit("{}").alias(name), ok]
    if isinstance(dtype, pl.Struct):
        text = pl.col(name).struct.json_encode()
        return [pl.when(pl.col(name).is_null()).then(pl.lit("{}")).otherwise(text).alias(name), ok]
    series = frame[name].cast(pl.String, strict=False)
    bad = [u for u in series.unique().to_list() if not _is_json_object(u)]
    col = pl.col(name).cast(pl.String, strict=False)
    empty = col.is_null() | (col.str.strip_chars() == "")
    return [
        pl.when(empty).then(pl.lit("{}")).otherwise(col).alias(name),
        (col.is_in(bad) & ~empty).alias(f"_bad_{name}"),
    ]


def _is_json_object(text: str | None) -> bool:
    if text is None or text.strip() == "":
        return True
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False
