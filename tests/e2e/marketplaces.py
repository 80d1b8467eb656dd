"""Synthetic marketplaces that end about now, whatever the day of the run.

The generator's activity follows the day of the week and the hour, so a marketplace
generated from "30 days ago" differs with the weekday of the run, and a statistical test on
it passes on some days and fails on others (one did on every Tuesday). These are generated
from a fixed moment and then moved to end about now: the same data every run, up to the
minute of the hour.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl

from tastemaker.datasets.marketplace import Marketplace, MarketplaceConfig, generate_marketplace

#: Where every marketplace here is generated from (a Friday, 02:00 UTC).
GENERATED_FROM = datetime(2026, 11, 13, 2, tzinfo=UTC)


def moved(market: Marketplace, by: timedelta) -> Marketplace:
    """The marketplace with its events and listings ``by`` later (the generator's hidden
    state counts days from the first, so it still answers for the moved data)."""
    items = market.items
    if "created_at" in items.columns:
        items = items.with_columns(pl.col("created_at") + by)
    return replace(market, events=market.events.with_columns(pl.col("timestamp") + by),
                   items=items)  # fmt: skip


def ending_now(
    users: int, items: int, days: int, seed: int, config: MarketplaceConfig | None = None
) -> Marketplace:
    """``days`` of a marketplace generated from :data:`GENERATED_FROM`, moved to start at
    the hour ``days`` days before now (so its last events are about now)."""
    start = (datetime.now(UTC) - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    made = generate_marketplace(users, items, days, seed=seed, start=GENERATED_FROM, config=config)
    return moved(made, start - GENERATED_FROM)
