"""Ordered checks: each refused row names its first failing check; reasons only for those."""

from __future__ import annotations

import polars as pl

from tastemaker.ingest.checks import Check, first_failure, refusals

CHECKS = [
    Check("a", pl.col("a") < 0, pl.format("field 'a' = '{}' is negative", pl.col("a"))),
    Check("b", pl.col("b").is_null(), pl.lit("field 'b' is required")),
    Check("a", pl.col("a") > 10, pl.lit("field 'a' is too large")),
]


def test_the_first_failing_check_is_named() -> None:
    frame = pl.DataFrame({"a": [-1, 5, 50, -2, 3], "b": [None, "x", None, "y", "z"]})
    numbered = frame.with_columns(first_failure(CHECKS).alias("_failure"))
    assert numbered["_failure"].to_list() == [0, None, 1, 0, None]
    out = refusals(numbered.filter(pl.col("_failure").is_not_null()), CHECKS, "_failure")
    assert out.select("_field", "_reason").rows() == [
        ("a", "field 'a' = '-1' is negative"),
        ("b", "field 'b' is required"),
        ("a", "field 'a' = '-2' is negative"),
    ]


def test_no_refused_rows_gives_empty_reason_columns() -> None:
    empty = pl.DataFrame({"a": [], "b": [], "_failure": []}, schema_overrides={"a": pl.Int64})
    out = refusals(empty, CHECKS, "_failure")
    assert out.height == 0 and out.schema["_reason"] == pl.String
