"""A marketplace that ends at a given moment is the same data whatever that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.datasets.marketplace_recent import GENERATED_FROM, marketplace_ending


def test_two_days_of_the_week_give_the_same_events_moved_in_time() -> None:
    monday = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    tuesday = monday + timedelta(days=1, minutes=7)
    a = marketplace_ending(monday, users=60, items=40, days=5, seed=3)
    b = marketplace_ending(tuesday, users=60, items=40, days=5, seed=3)
    assert a.events.height == b.events.height > 0
    later = a.events.with_columns(pl.col("timestamp") + (tuesday - monday))
    assert later.equals(b.events)
    assert a.items.drop("created_at").equals(b.items.drop("created_at"))
    # the history fits the window that ends at the moment asked for
    assert a.events["timestamp"].min() >= monday - timedelta(days=5)  # type: ignore[operator]
    assert a.events["timestamp"].max() <= monday  # type: ignore[operator]


def test_it_is_the_generator_s_marketplace_of_the_fixed_start() -> None:
    end = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    made = generate_marketplace(60, 40, 5, seed=3, start=GENERATED_FROM)
    moved = marketplace_ending(end, users=60, items=40, days=5, seed=3)
    by = end - timedelta(days=5) - GENERATED_FROM
    assert moved.events.equals(made.events.with_columns(pl.col("timestamp") + by))
    assert moved.users.equals(made.users)
    # the hidden state still answers for the users of the moved data
    users, items = moved.users["user_id"][:3].to_list(), moved.items["item_id"][:3].to_list()
    assert (moved.utility(users, items, 2) == made.utility(users, items, 2)).all()
