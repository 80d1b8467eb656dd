"""Propensity features: hand-worked values, point in time, and offline == online."""

from __future__ import annotations

import polars as pl
import pytest

from tastemaker.propensity.features import (
    DAY_MS,
    FEATURE_NAMES,
    HOUR_MS,
    OPEN_MS,
    PropensityWindows,
    identity_links,
    item_events,
    item_stats,
    pair_features,
)

T = 100 * DAY_MS
W = PropensityWindows(user_days=7, item_days=30)
ITEMS = pl.DataFrame(
    {
        "item_id": ["car", "suv", "part"],
        "category": ["car", "car", "parts"],
        "price": [10_000.0, 30_000.0, 50.0],
        "created_at": [T - 10 * DAY_MS, None, T - DAY_MS],
    }
)


def _events(rows: list[tuple[str, str, str, float | None, int]]) -> pl.DataFrame:
    return item_events(pl.DataFrame(
        rows,
        schema={"user_id": pl.String, "item_id": pl.String, "type": pl.String,
                "value": pl.Float64, "ts": pl.Int64},
        orient="row",
    ))  # fmt: skip


EVENTS = _events(
    [
        ("u", "car", "view", 30.0, T - 2 * DAY_MS),
        ("u", "car", "view", 10.0, T - 2 * HOUR_MS),
        ("u", "car", "add_to_cart", None, T - HOUR_MS),
        ("u", "suv", "click", 5.0, T - 3 * DAY_MS),
        ("u", "part", "add_to_cart", None, T - 3 * DAY_MS),
        ("u", "part", "remove_from_cart", None, T - 2 * DAY_MS),
        ("u", "car", "view", 99.0, T - 8 * DAY_MS),  # before the user window
        ("u", "car", "purchase", 10_000.0, T),  # at as_of: not visible
        ("v", "car", "view", 1.0, T - DAY_MS),
        ("v", "car", "purchase", 10_000.0, T - 20 * DAY_MS),
    ]
)


def _features(queries: list[tuple[str, str]], events: pl.DataFrame = EVENTS) -> pl.DataFrame:
    q = pl.DataFrame(
        {"user_id": [u for u, _ in queries], "item_id": [i for _, i in queries],
         "as_of": [T] * len(queries)},
        schema={"user_id": pl.String, "item_id": pl.String, "as_of": pl.Int64},
    )  # fmt: skip
    return pair_features(q, events, ITEMS, item_stats(EVENTS, [T], W), W)


def test_user_item_features_count_only_the_window_before_as_of() -> None:
    row = _features([("u", "car")]).row(0, named=True)
    assert row["ui_views"] == 2  # the view 8 days ago is outside, the purchase at T unseen
    assert row["ui_carts"] == 1 and row["ui_in_cart"] == 1
    assert row["ui_purchases"] == 0
    assert row["ui_dwell"] == 40.0
    assert row["ui_hours_since"] == pytest.approx(1.0)
    assert row["ui_active_days"] == 2


def test_user_features_and_fit_of_the_item() -> None:
    row = _features([("u", "suv")]).row(0, named=True)
    assert row["u_events"] == 5  # 2 views + cart of car, click of suv, cart of part
    assert row["u_items"] == 3
    assert row["u_carts"] == 2
    assert row["u_cat_share"] == pytest.approx(4 / 5)  # car-category events / all
    mean_price = (3 * 10_000 + 30_000 + 50) / 5
    assert row["u_price_ratio"] == pytest.approx(30_000 / mean_price)
    assert row["i_age_days"] == 0.0  # created_at unknown


def test_cart_then_remove_leaves_nothing_in_the_cart() -> None:
    row = _features([("u", "part")]).row(0, named=True)
    assert row["ui_carts"] == 1 and row["ui_removes"] == 1 and row["ui_in_cart"] == 0


def test_item_popularity_over_all_users_in_the_item_window() -> None:
    row = _features([("u", "car")]).row(0, named=True)
    assert row["i_views"] == 4  # u's three within 30 days (even the 8-day-old one) and v's
    assert row["i_purchases"] == 1  # v's purchase 20 days ago; u's at T is not before T
    assert row["i_users"] == 2
    assert row["i_conversion"] == pytest.approx(1 / (4 + 0 + 1))


def test_unknown_user_gets_neutral_values() -> None:
    row = _features([("nobody", "car")]).row(0, named=True)
    assert row["u_events"] == 0 and row["ui_views"] == 0
    assert row["ui_hours_since"] == W.user_days * 24 and row["u_price_ratio"] == 1.0
    assert row["i_views"] == 4


def test_online_features_from_one_users_events_equal_offline_from_the_whole_log() -> None:
    offline = _features([("u", "car"), ("u", "suv"), ("u", "part")])
    online = _features(
        [("u", "car"), ("u", "suv"), ("u", "part")], EVENTS.filter(pl.col("user_id") == "u")
    )
    assert list(offline.columns[3:]) == list(FEATURE_NAMES)
    assert offline.select(FEATURE_NAMES).equals(online.select(FEATURE_NAMES))


def test_a_later_request_uses_the_latest_item_snapshot_before_it() -> None:
    stats = item_stats(EVENTS, [T - 5 * DAY_MS, T], W)
    q = pl.DataFrame({"user_id": ["u"], "item_id": ["car"], "as_of": [T + HOUR_MS]})
    row = pair_features(q, EVENTS, ITEMS, stats, W).row(0, named=True)
    assert row["i_views"] == 4  # the snapshot at T, not the older one
    early = pair_features(
        q.with_columns(pl.lit(T - 4 * DAY_MS).alias("as_of")), EVENTS, ITEMS, stats, W
    )
    assert early.row(0, named=True)["i_views"] == 1  # snapshot at T - 5 days: only the old view


def test_store_frames_are_normalized_and_visitors_keyed_like_profiles() -> None:
    store = pl.DataFrame(
        {
            "user_id": [None, "u"],
            "anonymous_id": ["a1", None],
            "type": ["view", "search"],
            "item_id": ["car", None],
            "value": [None, None],
            "timestamp": pl.Series([T, T], dtype=pl.Datetime("ms", "UTC")),
        }
    )
    out = item_events(store)
    assert out.to_dicts() == [
        {"user_id": "anon:a1", "item_id": "car", "type": "view", "value": None, "ts": T,
         "from_ms": 0, "until_ms": OPEN_MS}
    ]  # fmt: skip


def test_a_visitors_events_are_the_users_once_an_identify_links_them() -> None:
    # as the profile stitches them: before the identify they are anon:a1's, after it u's
    stamps = [T, T + HOUR_MS, T + 2 * HOUR_MS]
    store = pl.DataFrame(
        {
            "seq": [1, 2, 3],
            "user_id": [None, "u", "u"],
            "anonymous_id": ["a1", "a1", None],
            "type": ["view", "identify", "view"],
            "item_id": ["car", None, "suv"],
            "value": [30.0, None, 10.0],
            "timestamp": pl.Series(stamps, dtype=pl.Datetime("ms", "UTC")),
        }
    )
    events = item_events(store, identity_links(store))
    stats = item_stats(events, [T + 30 * 60_000, T + 3 * HOUR_MS], W)

    def views(user: str, as_of: int) -> float:
        q = pl.DataFrame({"user_id": [user], "item_id": ["car"], "as_of": [as_of]})
        return pair_features(q, events, ITEMS, stats, W)["u_events"][0]

    assert (views("anon:a1", T + 30 * 60_000), views("u", T + 30 * 60_000)) == (1.0, 0.0)
    assert (views("anon:a1", T + 3 * HOUR_MS), views("u", T + 3 * HOUR_MS)) == (0.0, 2.0)
    # the item's popularity counts the visitor's view once, whoever it belongs to
    car = stats.filter(pl.col("item_id") == "car").sort("as_of")
    assert car["i_views"].to_list() == [1.0, 1.0] and car["i_users"].to_list() == [1.0, 1.0]
