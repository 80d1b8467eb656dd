"""Labelled examples for purchase propensity, built point in time from the event log.

At each cutoff T (every ``step_days``), the candidates are the (user, item) pairs the user
showed interest in during the user window before T; the label says whether the user bought
that item in ``[T, T + horizon)``. Features come from :mod:`tastemaker.propensity.features`
as of T, so a label is never visible to its own features.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tastemaker.errors import ValidationFailedError
from tastemaker.propensity.features import (
    DAY_MS,
    INTEREST,
    VISIBLE,
    PropensityWindows,
    item_stats,
    pair_features,
)


@dataclass(frozen=True)
class LabelSpec:
    """What is predicted and how often examples are cut.

    Attributes:
        horizon_days: a purchase within this long after the cutoff is a positive.
        step_days: days between cutoffs.
    """

    horizon_days: float = 7.0
    step_days: float = 1.0


def cutoffs(events: pl.DataFrame, windows: PropensityWindows, spec: LabelSpec) -> list[int]:
    """Cutoff times (ms, day-aligned): a full user window before, a full horizon after.

    Raises:
        ValidationFailedError: the log is too short for one window plus one horizon.
    """
    if events.is_empty():
        raise ValidationFailedError("no item events to build propensity examples from")
    first, last = int(events["ts"].min()), int(events["ts"].max())  # type: ignore[arg-type]
    start = -(-(first + windows.user_ms) // DAY_MS) * DAY_MS
    stop = last - int(spec.horizon_days * DAY_MS)
    step = int(spec.step_days * DAY_MS)
    if stop < start or step <= 0:
        days = (last - first) / DAY_MS
        raise ValidationFailedError(
            f"the event log spans {days:.1f} days; propensity examples need at least "
            f"{windows.user_days + spec.horizon_days:.1f} (user window "
            f"{windows.user_days} + horizon {spec.horizon_days})"
        )
    return list(range(start, stop + 1, step))


def labelled_examples(
    events: pl.DataFrame,
    items: pl.DataFrame,
    windows: PropensityWindows,
    spec: LabelSpec,
    times: list[int] | None = None,
) -> pl.DataFrame:
    """One row per (user, item, cutoff) candidate: keys, ``label`` (0/1) and the features.

    Args:
        events: item events in :func:`~tastemaker.propensity.features.item_events` shape.
        items: the catalog.
        windows: feature windows.
        spec: label horizon and cutoff spacing.
        times: cutoffs to use (default :func:`cutoffs`).
    """
    times = cutoffs(events, windows, spec) if times is None else times
    horizon = int(spec.horizon_days * DAY_MS)
    grid = pl.DataFrame({"as_of": times}, schema={"as_of": pl.Int64})
    interest = events.filter(pl.col("type").is_in(INTEREST))
    candidates = (
        interest.join(grid, how="cross")
        .filter(
            (pl.col("ts") < pl.col("as_of"))
            & (pl.col("ts") >= pl.col("as_of") - windows.user_ms)
            & VISIBLE
        )
        .select("user_id", "item_id", "as_of")
        .unique()
    )
    bought = (
        events.filter(pl.col("type") == "purchase")
        .join(grid, how="cross")
        .filter(
            (pl.col("ts") >= pl.col("as_of")) & (pl.col("ts") < pl.col("as_of") + horizon) & VISIBLE
        )
        .select("user_id", "item_id", "as_of")
        .unique()
        .with_columns(pl.lit(1, dtype=pl.Int8).alias("label"))
    )
    queries = candidates.join(bought, on=["user_id", "item_id", "as_of"], how="left").with_columns(
        pl.col("label").fill_null(0)
    )
    stats = item_stats(events, times, windows)
    return pair_features(queries, events, items, stats, windows).sort("as_of", "user_id", "item_id")
