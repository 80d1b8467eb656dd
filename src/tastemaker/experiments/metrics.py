"""Per-user metric values from the event log, over each user's experiment window.

A user's window starts at their first exposure and ends at the experiment end; the
pre-period (for CUPED) is the ``pre_days`` before their exposure. Every exposed user gets a
value, 0 when they had no matching event. A metric is an aggregate of events (a type, an
optional ``properties`` filter, ``count`` / ``sum`` of ``value`` / ``any`` / distinct
``sessions``), or the ratio of two aggregates summed over users (clicks / impressions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict

Aggregation = Literal["count", "sum", "any", "sessions"]
MetricKind = Literal["proportion", "mean", "ratio"]


class EventAggregate(BaseModel):
    """Events of one type (None: any type), optionally filtered, aggregated per user.

    ``where`` keeps events whose JSON ``properties`` hold ``key`` equal to the value (compared
    as text); ``sum`` adds the event ``value``; ``sessions`` counts distinct ``session_id``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: str | None = None
    where: dict[str, str] | None = None
    aggregation: Aggregation = "count"


class MetricSpec(BaseModel):
    """A named metric: ``numerator`` per user, or ``numerator / denominator`` as a ratio metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    numerator: EventAggregate
    denominator: EventAggregate | None = None

    @property
    def kind(self) -> MetricKind:
        """How it is tested: proportion (any), ratio (delta method) or mean (Welch)."""
        if self.denominator is not None:
            return "ratio"
        return "proportion" if self.numerator.aggregation == "any" else "mean"


def _agg(event_type: str, aggregation: Aggregation) -> EventAggregate:
    return EventAggregate(event_type=event_type, aggregation=aggregation)


#: The metrics every experiment reports (issue #14).
BUILTIN_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(name="conversion", numerator=_agg("purchase", "any")),
    MetricSpec(name="revenue", numerator=_agg("purchase", "sum")),
    MetricSpec(name="add_to_cart", numerator=_agg("add_to_cart", "any")),
    MetricSpec(name="ctr", numerator=_agg("click", "count"),
               denominator=_agg("impression", "count")),
    MetricSpec(name="views_per_session", numerator=_agg("view", "count"),
               denominator=EventAggregate(aggregation="sessions")),
)  # fmt: skip


def _expr(agg: EventAggregate, period: str, alias: str) -> pl.Expr:
    mask = pl.col("_period") == period
    if agg.event_type is not None:
        mask = mask & (pl.col("type") == agg.event_type)
    for key, value in (agg.where or {}).items():
        found = pl.col("properties").str.json_path_match(f"$.{key}")
        mask = mask & (found == value).fill_null(False)
    if agg.aggregation == "count":
        out = mask.sum()
    elif agg.aggregation == "sum":
        out = pl.col("value").filter(mask).fill_null(0.0).sum()
    elif agg.aggregation == "any":
        out = mask.any()
    else:
        out = pl.col("session_id").filter(mask).drop_nulls().n_unique()
    return out.cast(pl.Float64).alias(alias)


def _utc(column: str, dtype: pl.DataType) -> pl.Expr:
    """Epoch milliseconds, a naive (UTC) or a zoned datetime -> ``Datetime("ms", "UTC")``."""
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
    return col.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def _windowed(
    events: pl.DataFrame, exposures: pl.LazyFrame, end: datetime, pre: timedelta
) -> pl.LazyFrame:
    ts, exposed = pl.col("timestamp"), pl.col("exposed_at")
    end = end if end.tzinfo is not None else end.replace(tzinfo=UTC)
    period = (
        pl.when((ts >= exposed) & (ts < pl.lit(end))).then(pl.lit("post"))
        .when((ts >= exposed - pre) & (ts < exposed)).then(pl.lit("pre"))
    )  # fmt: skip
    timed = events.lazy().with_columns(_utc("timestamp", events.schema["timestamp"]))
    joined = timed.join(exposures.select("user_id", "exposed_at"), on="user_id")
    return joined.with_columns(_period=period).filter(pl.col("_period").is_not_null())


def metric_values(
    events: pl.DataFrame,
    exposures: pl.DataFrame,
    metric: MetricSpec,
    *,
    end: datetime,
    pre_days: int = 14,
) -> pl.DataFrame:
    """Per exposed user: the metric over [exposure, end) and over the pre-period.

    Args:
        events: the event log (columns of ``tastemaker.schema.EVENT_COLUMNS``; ``timestamp``
            a UTC datetime or epoch milliseconds; ``properties`` JSON text or null).
        exposures: ``user_id``, ``variant`` and ``exposed_at`` (first exposure, UTC datetime).
        metric: what to compute.
        end: the end of the experiment window (exclusive, timezone-aware UTC).
        pre_days: length of the pre-period before each user's exposure.

    Returns:
        One row per exposed user: ``user_id``, ``variant``, ``value`` and ``pre_value``, plus
        ``denominator`` and ``pre_denominator`` for a ratio metric; 0 where nothing happened.
    """
    parts = {"value": metric.numerator, "denominator": metric.denominator}
    exprs = [
        _expr(agg, period, prefix + name)
        for name, agg in parts.items() if agg is not None
        for period, prefix in (("post", ""), ("pre", "pre_"))
    ]  # fmt: skip
    exp = exposures.lazy().with_columns(_utc("exposed_at", exposures.schema["exposed_at"]))
    window = _windowed(events, exp, end, timedelta(days=pre_days))
    per_user = window.group_by("user_id").agg(exprs)
    names = [e.meta.output_name() for e in exprs]
    out = exp.select("user_id", "variant").join(per_user, on="user_id", how="left")
    return out.with_columns(pl.col(names).fill_null(0.0)).sort("user_id").collect()


def by_variant(frame: pl.DataFrame, column: str) -> dict[str, npt.NDArray[np.float64]]:
    """A metric column of :func:`metric_values` split per variant (for :mod:`.analysis`)."""
    parts = frame.partition_by("variant", as_dict=True, maintain_order=True)
    return {str(key[0]): part[column].to_numpy().astype(np.float64)
            for key, part in sorted(parts.items())}  # fmt: skip
