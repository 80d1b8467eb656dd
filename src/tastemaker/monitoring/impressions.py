"""Served recommendation lists read back from the event log, one row per served item.

Impressions are logged per item (``context`` holds request id, position, model version,
variant, score, history size and the experiment assignments) or per list (``properties``
hold the items and their scores). Both layouts become the same frame here; featured
listings (``placement: featured``) are not recommendation lists and are left out.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import polars as pl

from tastemaker.storage.base import Store

#: Columns of :func:`served_items`.
SERVED_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "item_id": pl.String(),
    "timestamp": pl.Datetime("ms", "UTC"),
    "request_id": pl.String(),
    "model_version": pl.String(),
    "variant": pl.String(),
    "score": pl.Float64(),
    "history": pl.Float64(),
    "experiments": pl.String(),
}
_LIST_PROPS = pl.Struct({"items": pl.List(pl.String), "scores": pl.List(pl.Float64)})


def window(start_ms: int, end_ms: int) -> tuple[datetime, datetime]:
    """Epoch milliseconds as the UTC datetimes the store reads between."""
    return datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(end_ms / 1000, UTC)


def served_items(store: Store, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Every recommended item served in ``[start_ms, end_ms]`` (:data:`SERVED_SCHEMA`)."""
    start, end = window(start_ms, end_ms)
    events = store.events(start=start, end=end, types=["impression"])
    return served_frame(events)


def served_frame(events: pl.DataFrame) -> pl.DataFrame:
    """Impression events (store layout) as one row per served item."""
    if events.height == 0:
        return pl.DataFrame(schema=SERVED_SCHEMA)
    ctx = pl.col("context")
    rows = events.filter(
        ctx.is_not_null() & (ctx.str.json_path_match("$.placement").fill_null("") != "featured")
    ).select(
        "user_id",
        "item_id",
        "timestamp",
        "properties",
        request_id=ctx.str.json_path_match("$.request_id"),
        model_version=ctx.str.json_path_match("$.model_version"),
        variant=ctx.str.json_path_match("$.variant"),
        score=ctx.str.json_path_match("$.score").cast(pl.Float64, strict=False),
        history=ctx.str.json_path_match("$.history").cast(pl.Float64, strict=False),
        experiments=ctx.str.json_path_match("$.experiments"),
    )
    per_item = rows.filter(pl.col("item_id").is_not_null()).drop("properties")
    lists = rows.filter(pl.col("item_id").is_null() & pl.col("properties").is_not_null())
    if lists.height:
        props = lists["properties"].str.json_decode(_LIST_PROPS)
        lists = lists.drop("item_id", "score", "properties").with_columns(
            item_id=props.struct.field("items"),
            score=props.struct.field("scores").fill_null(pl.lit([], pl.List(pl.Float64))),
        )
        lists = lists.with_columns(
            score=pl.when(pl.col("score").list.len() == pl.col("item_id").list.len())
            .then("score")
            .otherwise(pl.col("item_id").list.eval(pl.lit(None, pl.Float64)))
        ).explode("item_id", "score")
        per_item = pl.concat([per_item, lists.select(per_item.columns)], how="vertical_relaxed")
    return per_item.select([pl.col(c).cast(t) for c, t in SERVED_SCHEMA.items()])


def assignments(experiments: pl.Series) -> pl.DataFrame:
    """Distinct experiment JSON objects as rows: ``experiments`` (the JSON), key, arm."""
    rows = []
    for text in experiments.drop_nulls().unique().to_list():
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            rows += [(text, str(k), str(v)) for k, v in parsed.items()]
    return pl.DataFrame(rows, schema={"experiments": pl.String, "experiment": pl.String,
                                      "arm": pl.String}, orient="row")  # fmt: skip
