"""Building blocks for column-wise validation: ordered checks that name field and reason."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

import orjson
import polars as pl

from tastemaker.config import IngestConfig
from tastemaker.errors import ValidationFailedError
from tastemaker.ingest import limits

#: Column the body parser adds: per row null, or why the parser refused it (struct of
#: ``field``, ``reason`` and ``dropped``, the removed content as bounded text).
REFUSED = "_refused"
REFUSED_DTYPE = pl.Struct({"field": pl.String, "reason": pl.String, "dropped": pl.String})


@dataclass(frozen=True)
class Check:
    """A rule: rows where ``failed`` is true are refused for ``field`` with ``reason``.

    ``field`` is a name, or an expression when the rule words it per row.
    """

    field: str | pl.Expr
    failed: pl.Expr
    reason: pl.Expr


def refuse_reserved_names(frame: pl.DataFrame) -> None:
    """Refuse input columns whose names validation cannot hold as plain field names.

    Names starting with ``_`` are validation's own working columns; ``*`` and names of the
    form ``^...$`` would be read by the column engine as a wildcard or a pattern. API bodies
    never reach this (the body parser refuses such keys row by row); a file's columns do.

    Raises:
        ValidationFailedError: naming the first such column.
    """
    for name in frame.columns:
        if name == REFUSED and frame.schema[name] == REFUSED_DTYPE:
            continue  # the body parser's own column
        problem = limits.name_problem(name, attribute=False, max_length=0)
        if problem is not None:
            raise ValidationFailedError(problem)


def parser_checks(columns: Collection[str]) -> list[Check]:
    """The body parser's refusals (`REFUSED`), first of all checks, for a frame of these
    ``columns``; none for a file's."""
    if REFUSED not in columns:
        return []
    refused = pl.col(REFUSED)
    field, reason = refused.struct.field("field"), refused.struct.field("reason")
    return [Check(field, refused.is_not_null(), reason)]


def dropped_column(frame: pl.DataFrame) -> pl.Expr:
    """``_dropped``: what the body parser removed from each row (null for a file's rows)."""
    if REFUSED not in frame.columns:
        return pl.lit(None, dtype=pl.String).alias("_dropped")
    return pl.col(REFUSED).struct.field("dropped").alias("_dropped")


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
        named = pl.lit(check.field) if isinstance(check.field, str) else check.field
        field = field.when(which == i).then(named)
        reason = reason.when(which == i).then(check.reason)
    return frame.with_columns(
        field.otherwise(None).cast(pl.String).alias("_field"),
        reason.otherwise(None).cast(pl.String).alias("_reason"),
    )


def quoted(value: pl.Expr) -> pl.Expr:
    """A value as a reason quotes it: text cut to `limits.QUOTE_CHARS`, NUL written ``\\0``."""
    text = value.cast(pl.String)
    n = limits.QUOTE_CHARS
    cut = pl.when(text.str.len_chars() > n).then(text.str.slice(0, n) + "…").otherwise(text)
    return cut.str.replace_all("\x00", "\\0", literal=True)


def blank(name: str) -> pl.Expr:
    """True where a text column is null or only white space."""
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def id_checks(name: str, max_length: int, *, required: bool) -> list[Check]:
    """Checks for an identifier column: present (if required), within ``max_length``, no NUL."""
    checks = []
    if required:
        checks.append(Check(name, blank(name), pl.lit(f"field '{name}' is required")))
    return [*checks, *text_checks(name, max_length, "max_id_length")]


def text_checks(name: str, max_length: int, setting: str) -> list[Check]:
    """A text column: at most ``max_length`` characters (``ingest.<setting>``) and no NUL.

    NUL cannot be stored in PostgreSQL text; it is refused on every backend alike. One
    check for both rules: each check costs a pass of the rule chain over the batch.
    """
    long = pl.col(name).str.len_chars() > max_length
    nul = pl.col(name).str.contains("\x00", literal=True)
    too_long = f"field '{name}' is longer than {max_length} characters (limit ingest.{setting})"
    has_nul = f"field '{name}' contains a NUL character"
    return [
        Check(name, long | nul, pl.when(long).then(pl.lit(too_long)).otherwise(pl.lit(has_nul)))
    ]


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


def json_object_columns(frame: pl.DataFrame, name: str, max_depth: int) -> list[pl.Expr]:
    """Expressions making ``name`` JSON-object text and flagging bad rows.

    ``_bad_<name>`` marks text that is not a JSON object, ``_deep_<name>`` one nested deeper
    than ``max_depth``. Each distinct text is decoded once; depth is measured only where the
    text holds more than ``max_depth`` opening brackets.
    """
    flags = [pl.lit(False).alias(f"_bad_{name}"), pl.lit(False).alias(f"_deep_{name}")]
    dtype = frame.schema.get(name)
    if dtype is None or dtype == pl.Null:
        return [pl.lit("{}").alias(name), *flags]
    if isinstance(dtype, pl.Struct):
        text = pl.col(name).struct.json_encode()
        return [
            pl.when(pl.col(name).is_null()).then(pl.lit("{}")).otherwise(text).alias(name),
            *flags,
        ]
    series = frame[name].cast(pl.String, strict=False)
    # only texts with more opening brackets than max_depth can be that deep (counted in bulk)
    many = set(series.filter(series.str.count_matches(r"[\[{]") > max_depth).to_list())
    bad: list[str] = []
    deep: list[str] = []
    for text in series.unique().to_list():
        shape = _json_shape(text, max_depth if text in many else None)
        if shape == "deep":
            deep.append(text)
        elif shape == "bad":
            bad.append(text)
    col = pl.col(name).cast(pl.String, strict=False)
    empty = col.is_null() | (col.str.strip_chars() == "")
    return [
        pl.when(empty).then(pl.lit("{}")).otherwise(col).alias(name),
        _among(col, bad, empty).alias(f"_bad_{name}"),
        _among(col, deep, empty).alias(f"_deep_{name}"),
    ]


def _among(col: pl.Expr, values: list[str], empty: pl.Expr) -> pl.Expr:
    """Rows (not blank) whose text is one of ``values``; a constant when there are none."""
    return col.is_in(values) & ~empty if values else pl.lit(False)


def deep_text(frame: pl.DataFrame, name: str, max_depth: int) -> pl.Expr:
    """True where text column ``name`` holds JSON nested deeper than ``max_depth``.

    Only texts with more than ``max_depth`` opening brackets are decoded (the rest cannot
    be that deep), so plain attribute values cost one vectorized count.
    """
    texts = frame[name]
    many = texts.filter(texts.str.count_matches(r"[\[{]", literal=False) > max_depth)
    deep = [t for t in many.unique().to_list() if limits.text_depth(t) > max_depth]
    return pl.col(name).is_in(deep) if deep else pl.lit(False)


def json_checks(name: str, cfg: IngestConfig) -> list[Check]:
    """A JSON-object column (flags from `json_object_columns`): an object, within size and
    depth (one check, worded per row)."""
    size = cfg.max_json_bytes
    large = pl.col(name).str.len_bytes() > size
    bad, deep = pl.col(f"_bad_{name}"), pl.col(f"_deep_{name}")
    reason = (
        pl.when(large)
        .then(pl.lit(f"field '{name}' is larger than {size} bytes (limit ingest.max_json_bytes)"))
        .when(bad)
        .then(pl.lit(f"field '{name}' is not a JSON object"))
        .otherwise(pl.lit(limits.too_deep(name, cfg.max_json_depth)))
    )
    return [Check(name, large | bad | deep, reason)]


def _json_shape(text: str | None, max_depth: int | None) -> str:
    """``ok`` (blank or a JSON object within ``max_depth``), ``bad`` or ``deep``.

    ``max_depth`` None: the text cannot be too deep (too few brackets), depth is not measured.
    """
    if text is None or text.strip() == "":
        return "ok"
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return "deep" if "depth" in str(exc) else "bad"
    if not isinstance(value, dict):
        return "bad"
    if max_depth is not None and limits.json_depth(value) > max_depth:
        return "deep"
    return "ok"
