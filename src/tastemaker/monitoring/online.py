"""Online metrics from logged impressions and the events after them: :func:`online_metrics`.

A served item is *clicked* when the same user clicks it, and *converted* when the same user
buys it, within ``monitoring.attribution_hours`` after the impression. Click-through and
conversion are those counts over impressions, per UTC day, per model version and per
experiment variant (the assignments every impression carries).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import polars as pl

from tastemaker.monitoring.impressions import assignments, served_items, window
from tastemaker.workspace import Workspace

_COUNTS = ("impressions", "clicks", "conversions")


@dataclass(frozen=True)
class OnlineRow:
    """One day of one model version (``version``) or experiment variant (``experiment``,
    ``variant``): impressions and the clicks and conversions attributed to them."""

    day: str
    version: str | None
    experiment: str | None
    variant: str | None
    impressions: int
    clicks: int
    conversions: int

    @property
    def ctr(self) -> float:
        """Click-through: clicked impressions / impressions."""
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def conversion(self) -> float:
        """Conversion: impressions followed by a purchase of the item / impressions."""
        return self.conversions / self.impressions if self.impressions else 0.0

    @property
    def series(self) -> str:
        """What the row measures: ``v0003`` or ``experiment/variant``."""
        return self.version if self.version else f"{self.experiment}/{self.variant}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form with the rates."""
        return {**asdict(self), "ctr": self.ctr, "conversion": self.conversion}


def attributed(served: pl.DataFrame, actions: pl.DataFrame, hours: float) -> pl.DataFrame:
    """``served`` (one row per served item) with ``clicked`` and ``converted`` flags.

    Args:
        served: user_id, item_id, timestamp (and anything else, kept).
        actions: events with user_id, item_id, type (click, purchase), timestamp.
        hours: attribution window after each impression.
    """
    rows = served.with_row_index("_imp")
    acts = actions.filter(pl.col("type").is_in(["click", "purchase"])).select(
        "user_id", "item_id", "type", at=pl.col("timestamp")
    )
    span = pl.duration(milliseconds=int(hours * 3_600_000))
    after = (pl.col("at") >= pl.col("timestamp")) & (pl.col("at") <= pl.col("timestamp") + span)
    hits = (
        rows.select("_imp", "user_id", "item_id", "timestamp")
        .join(acts, on=["user_id", "item_id"], how="inner")
        .filter(after)
        .group_by("_imp")
        .agg(
            clicked=(pl.col("type") == "click").any(),
            converted=(pl.col("type") == "purchase").any(),
        )
    )
    out = rows.join(hits, on="_imp", how="left").with_columns(
        pl.col("clicked").fill_null(False), pl.col("converted").fill_null(False)
    )
    return out.sort("_imp").drop("_imp")


def _counts(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.group_by(keys).agg(
        impressions=pl.len(), clicks=pl.col("clicked").sum(), conversions=pl.col("converted").sum()
    )


def online_frame(
    ws: Workspace, days: float | None = None, now: float | None = None
) -> pl.DataFrame:
    """The rows of :func:`online_metrics` as a frame (day, version, experiment, variant,
    impressions, clicks, conversions), sorted."""
    cfg = ws.settings.monitoring
    end_ms = int((time.time() if now is None else now) * 1000)
    start_ms = end_ms - int((cfg.online_days if days is None else days) * 86_400_000)
    served = served_items(ws.store, start_ms, end_ms).filter(pl.col("user_id").is_not_null())
    start, end = window(start_ms, end_ms + int(cfg.attribution_hours * 3_600_000))
    actions = ws.store.events(start=start, end=end, types=["click", "purchase"])
    flagged = attributed(served, actions, cfg.attribution_hours).with_columns(
        day=pl.col("timestamp").dt.date().cast(pl.String)
    )
    none = pl.lit(None, pl.String)
    counts = [pl.col(c) for c in _COUNTS]
    per_version = _counts(flagged, ["day", "model_version"]).select(
        pl.col("day"), pl.col("model_version").alias("version"), none.alias("experiment"),
        none.alias("variant"), *counts,
    )  # fmt: skip
    arms = flagged.join(assignments(flagged["experiments"]), on="experiments", how="inner")
    per_variant = _counts(arms, ["day", "experiment", "arm"]).select(
        pl.col("day"), none.alias("version"), pl.col("experiment"), pl.col("arm").alias("variant"),
        *counts,
    )  # fmt: skip
    frame = pl.concat([per_version, per_variant], how="vertical_relaxed")
    return frame.sort("day", "version", "experiment", "variant", nulls_last=True)


def online_metrics(
    ws: Workspace, days: float | None = None, now: float | None = None
) -> list[OnlineRow]:
    """Click-through and conversion per UTC day, per model version and per variant.

    Args:
        ws: the workspace.
        days: days read back from ``now`` (None: ``monitoring.online_days``).
        now: end of the window, epoch seconds (None: now).
    """
    return [
        OnlineRow(r["day"], r["version"], r["experiment"], r["variant"],
                  int(r["impressions"]), int(r["clicks"]), int(r["conversions"]))
        for r in online_frame(ws, days, now).iter_rows(named=True)
    ]  # fmt: skip
