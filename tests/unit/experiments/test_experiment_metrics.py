"""Per-user metric values over each user's window, on a hand-written event log.

(Named after ``experiments/metrics.py``; ``test_metrics.py`` is taken by evaluation's tests.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tastemaker.experiments.metrics import (
    BUILTIN_METRICS,
    EventAggregate,
    MetricSpec,
    by_variant,
    metric_values,
)
from tastemaker.schema import EVENT_COLUMNS

T0 = datetime(2026, 11, 1, tzinfo=UTC)
END = T0 + timedelta(days=10)
EXPOSURES = pl.DataFrame(
    {"user_id": ["u1", "u2", "u3"], "variant": ["control", "b", "b"],
     "exposed_at": [T0, T0 + timedelta(days=2), T0]},
    schema_overrides={"exposed_at": pl.Datetime("ms", "UTC")},
)  # fmt: skip


def _event(user: str, kind: str, day: float, value: float | None = None,
           session: str | None = "s1", properties: str | None = None) -> dict:  # fmt: skip
    return {"event_id": f"{user}-{kind}-{day}", "user_id": user, "anonymous_id": None,
            "type": kind, "item_id": "i1", "value": value,
            "timestamp": T0 + timedelta(days=day), "session_id": session, "context": None,
            "properties": properties}  # fmt: skip


SCHEMA = {"timestamp": pl.Datetime("ms", "UTC"), "value": pl.Float64, "properties": pl.String,
          "context": pl.String, "anonymous_id": pl.String}  # fmt: skip
EVENTS = pl.DataFrame(
    [
        _event("u1", "purchase", -3, 50.0),  # pre-period of u1
        _event("u1", "purchase", 1, 20.0),
        _event("u1", "purchase", 2, 5.0, properties='{"coupon": "yes"}'),
        _event("u1", "purchase", 11, 99.0),  # after the end: not counted
        _event("u1", "impression", 1),
        _event("u1", "impression", 1.1),
        _event("u1", "click", 1.2),
        _event("u1", "view", 1, session="a"),
        _event("u1", "view", 1.1, session="a"),
        _event("u1", "view", 3, session="b"),
        _event("u2", "purchase", 1, 30.0),  # before u2's exposure (day 2): pre-period
        _event("u2", "add_to_cart", 3),
        _event("u2", "impression", 3),
    ],
    schema_overrides=SCHEMA,
).select(EVENT_COLUMNS)


def _metric(name: str) -> MetricSpec:
    return next(m for m in BUILTIN_METRICS if m.name == name)


def _values(metric: MetricSpec, events: pl.DataFrame = EVENTS) -> dict[str, tuple]:
    frame = metric_values(events, EXPOSURES, metric, end=END, pre_days=7)
    return {r["user_id"]: tuple(v for k, v in r.items() if k not in ("user_id", "variant"))
            for r in frame.iter_rows(named=True)}  # fmt: skip


def test_conversion_and_revenue_count_only_the_users_window() -> None:
    # (value, pre_value); u3 was exposed and did nothing: zeros
    assert _values(_metric("conversion")) == {"u1": (1, 1), "u2": (0, 1), "u3": (0, 0)}
    assert _values(_metric("revenue")) == {"u1": (25, 50), "u2": (0, 30), "u3": (0, 0)}
    assert _values(_metric("add_to_cart"))["u2"] == (1, 0)


def test_ratio_metrics_give_numerator_and_denominator_per_user() -> None:
    # (value, pre_value, denominator, pre_denominator)
    assert _values(_metric("ctr")) == {"u1": (1, 0, 2, 0), "u2": (0, 0, 1, 0),
                                       "u3": (0, 0, 0, 0)}  # fmt: skip
    # u1: 3 views over sessions {s1, a, b} of all events in the window
    assert _values(_metric("views_per_session"))["u1"] == (3, 0, 3, 1)


def test_a_declared_metric_filters_on_properties() -> None:
    coupon = MetricSpec(name="coupon_revenue", numerator=EventAggregate(
        event_type="purchase", where={"coupon": "yes"}, aggregation="sum"))  # fmt: skip
    assert coupon.kind == "mean"
    assert _values(coupon) == {"u1": (5, 0), "u2": (0, 0), "u3": (0, 0)}


def test_epoch_millisecond_timestamps_read_the_same() -> None:
    as_ms = EVENTS.with_columns(pl.col("timestamp").dt.epoch("ms"))
    assert _values(_metric("revenue"), as_ms) == _values(_metric("revenue"))


def test_by_variant_splits_a_column_for_the_analysis() -> None:
    frame = metric_values(EVENTS, EXPOSURES, _metric("revenue"), end=END)
    split = by_variant(frame, "value")
    assert sorted(split) == ["b", "control"] and split["control"].tolist() == [25.0]
    assert sorted(split["b"].tolist()) == [0.0, 0.0]


def test_metric_specs_forbid_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        EventAggregate.model_validate({"event_type": "view", "agg": "count"})
