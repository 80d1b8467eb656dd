"""Synthetic marketplaces that end at a given moment and are the same whatever that moment.

:func:`~tastemaker.datasets.marketplace.generate_marketplace` follows the day of the week
and the hour of its start, so "the last ten days up to now" generated today and tomorrow
differ, and a seeded simulation or test would not replay. These are generated from one fixed
moment and moved in time to end where asked: the same events for the same seed, whenever.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl

from tastemaker.datasets.marketplace import Marketplace, MarketplaceConfig, generate_marketplace

#: Where every marketplace here is generated from (a Friday, 02:00 UTC).
GENERATED_FROM = datetime(2026, 11, 13, 2, tzinfo=UTC)


def moved(market: Marketplace, by: timedelta) -> Marketplace:
    """The marketplace with its events and listings ``by`` later (the hidden state counts
    days from the first, so :meth:`Marketplace.respond` still answers for the moved data)."""
    items = market.items
    if "created_at" in items.columns:
        items = items.with_columns(pl.col("created_at") + by)
    events = market.events.with_columns(pl.col("timestamp") + by)
    return replace(market, events=events, items=items)


def marketplace_ending(
    end: datetime,
    users: int,
    items: int,
    days: int,
    seed: int,
    config: MarketplaceConfig | None = None,
) -> Marketplace:
    """``days`` of a marketplace that start ``days`` days before ``end``: generated from
    :data:`GENERATED_FROM` with ``seed`` and ``config``, then moved."""
    made = generate_marketplace(users, items, days, seed, start=GENERATED_FROM, config=config)
    return moved(made, end - timedelta(days=days) - GENERATED_FROM)
