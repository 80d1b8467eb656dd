"""The synthetic marketplace: layout, determinism, consistency and learnable signal."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.datasets import (
    Marketplace,
    MarketplaceConfig,
    generate_marketplace,
    regenerate_marketplace,
    write_marketplace,
)
from tastemaker.errors import ValidationFailedError
from tastemaker.schema import EVENT_COLUMNS, EVENT_TYPES, ITEM_CORE_COLUMNS, ITEM_EVENT_TYPES

USERS, ITEMS, DAYS, SEED = 800, 400, 14, 7
ATTRIBUTES = ("fuel_type", "body_type", "colour", "year")


@pytest.fixture(scope="module")
def market() -> Marketplace:
    """One small marketplace shared by the read-only tests of this module."""
    return generate_marketplace(USERS, ITEMS, DAYS, SEED)


@pytest.fixture(scope="module")
def vehicle_views(market: Marketplace) -> pl.DataFrame:
    """Logged-in views of vehicles, with the item's fuel type and the user's hidden truth."""
    truth = market.ground_truth["users"]
    prefs = pl.DataFrame(
        {
            "user_id": list(truth),
            "pref": [t["fuel_type"] for t in truth.values()],
            "drift_day": [t["drift"]["day"] if t["drift"] else None for t in truth.values()],
            "new_pref": [t["drift"]["fuel_type"] if t["drift"] else None for t in truth.values()],
        },
        schema_overrides={"drift_day": pl.Int64, "new_pref": pl.String},
    )
    start = market.events["timestamp"].min()
    return (
        market.events.filter((pl.col("type") == "view") & pl.col("user_id").is_not_null())
        .join(market.items.select("item_id", "fuel_type"), on="item_id")
        .filter(pl.col("fuel_type").is_not_null())
        .join(prefs, on="user_id")
        .with_columns(((pl.col("timestamp") - pl.lit(start)).dt.total_days()).alias("day"))
    )


def test_files_have_the_schema_columns(market: Marketplace) -> None:
    assert market.events.columns == list(EVENT_COLUMNS)
    assert market.items.columns == [*ITEM_CORE_COLUMNS, *ATTRIBUTES]
    assert market.users.columns == ["user_id", "consent", "age_band", "gender", "region", "device"]
    assert market.events.schema["timestamp"] == pl.Datetime("ms", "UTC")
    assert market.events.schema["value"] == pl.Float64
    assert set(market.events["type"].unique()) <= EVENT_TYPES


def test_ids_are_unique_and_well_formed(market: Marketplace) -> None:
    ev = market.events
    assert ev["event_id"].n_unique() == ev.height
    assert market.items["item_id"].n_unique() == ITEMS
    assert market.users["user_id"].str.contains(r"^u\d{6}$").all()
    assert market.items["item_id"].str.contains(r"^i\d{6}$").all()
    with_item = ev.filter(pl.col("type").is_in(list(ITEM_EVENT_TYPES)))
    assert with_item["item_id"].null_count() == 0
    assert with_item["item_id"].is_in(market.items["item_id"].implode()).all()
    assert ev.filter(pl.col("user_id").is_null() & pl.col("anonymous_id").is_null()).height == 0


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv", "jsonl"):
        a = write_marketplace(generate_marketplace(120, 80, 4, 3), tmp_path / f"a-{fmt}", fmt)
        b = write_marketplace(generate_marketplace(120, 80, 4, 3), tmp_path / f"b-{fmt}", fmt)
        assert sorted(a) == ["events", "ground_truth", "items", "users"]
        for name in a:
            assert a[name].read_bytes() == b[name].read_bytes(), f"{fmt} {name} differs"
    other = generate_marketplace(120, 80, 4, 4)
    assert not other.events.equals(generate_marketplace(120, 80, 4, 3).events)


def test_text_formats_write_iso_timestamps_and_parquet_keeps_types(
    market: Marketplace, tmp_path: Path
) -> None:
    small = generate_marketplace(60, 40, 2, 1)
    csv = write_marketplace(small, tmp_path / "csv", "csv")
    stamps = pl.read_csv(csv["events"])["timestamp"]
    assert stamps.str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").all()
    lines = write_marketplace(small, tmp_path / "jsonl", "jsonl")["events"].read_text().splitlines()
    first = json.loads(lines[0])
    assert list(first) == list(EVENT_COLUMNS)
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    parquet = write_marketplace(small, tmp_path / "pq", "parquet")
    assert pl.read_parquet(parquet["events"]).equals(small.events)
    assert pl.read_parquet(parquet["items"]).schema["created_at"] == pl.Datetime("ms", "UTC")


def test_sessions_are_time_ordered_and_belong_to_one_person(market: Marketplace) -> None:
    per_session = market.events.group_by("session_id").agg(
        pl.col("timestamp").diff().dt.total_milliseconds().min().alias("min_gap"),
        pl.col("user_id").drop_nulls().n_unique().alias("users"),
        pl.col("anonymous_id").drop_nulls().n_unique().alias("devices"),
    )
    assert (per_session["min_gap"].drop_nulls() > 0).all()
    assert per_session["users"].max() == 1
    assert per_session["devices"].max() == 1
    assert market.events["timestamp"].is_sorted()


def test_identify_links_anonymous_events_to_the_user(market: Marketplace) -> None:
    ev = market.events.with_row_index("row")
    identify = ev.filter(pl.col("type") == "identify")
    assert identify.height > 0
    assert identify["user_id"].null_count() == 0
    assert identify["anonymous_id"].null_count() == 0
    linked = ev.join(
        identify.select("session_id", pl.col("row").alias("at"), pl.col("user_id").alias("who")),
        on="session_id",
    )
    before = linked.filter(pl.col("row") < pl.col("at"))
    after = linked.filter(pl.col("row") > pl.col("at"))
    assert before.height > 0 and after.height > 0
    assert before["user_id"].null_count() == before.height
    assert before["anonymous_id"].null_count() == 0
    assert (after["user_id"] == after["who"]).all()


def test_events_are_consistent_with_the_catalog(market: Marketplace) -> None:
    ev = market.events.join(
        market.items.select("item_id", "price", "created_at"), on="item_id", how="left"
    )
    purchases = ev.filter(pl.col("type") == "purchase")
    assert purchases.height > 0
    assert (purchases["value"] == purchases["price"]).all()
    ratings = ev.filter(pl.col("type") == "rating")["value"]
    assert ratings.len() > 0 and ratings.is_between(1, 5).all()
    dwell = ev.filter(pl.col("type").is_in(["view", "click"]))["value"]
    assert dwell.null_count() == 0 and (dwell > 0).all()
    assert (
        (ev.drop_nulls("created_at").select(pl.col("timestamp") > pl.col("created_at")))
        .to_series()
        .all()
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert (market.items["created_at"] > start).sum() > 0  # some new arrivals


def test_vehicle_attributes_and_text_describe_the_item(market: Marketplace) -> None:
    items = market.items
    vehicles = items.filter(pl.col("category").is_in(["car", "motorbike", "van"]))
    goods = items.filter(~pl.col("category").is_in(["car", "motorbike", "van"]))
    assert vehicles["fuel_type"].null_count() == 0 and vehicles["body_type"].null_count() == 0
    assert goods["fuel_type"].null_count() == goods.height
    mentions = vehicles.select(
        pl.col("text").str.contains(pl.col("fuel_type"))
        & pl.col("text").str.contains(pl.col("brand"))
    ).to_series()
    assert mentions.all()
    cars = items.filter(pl.col("category") == "car")["price"]
    assert 3_000 < cars.median() < 60_000
    assert 0.85 < items["in_stock"].mean() < 1.0


def test_preferred_fuel_type_drives_views(vehicle_views: pl.DataFrame) -> None:
    stable = vehicle_views.filter(pl.col("drift_day").is_null())
    base = (stable["fuel_type"] == "electric").mean()
    fans = stable.filter(pl.col("pref") == "electric")
    share = (fans["fuel_type"] == "electric").mean()
    assert fans.height > 100
    assert share > 0.4 and share > 2 * base, (share, base)


def test_segment_rule_recovers_hidden_preference(vehicle_views: pl.DataFrame) -> None:
    per_user = (
        vehicle_views.filter(pl.col("drift_day").is_null())
        .group_by("user_id")
        .agg(
            (pl.col("fuel_type") == "electric").mean().alias("p"), pl.len(), pl.col("pref").first()
        )
        .filter(pl.col("len") >= 5)
    )
    in_segment = per_user["p"] >= 0.5
    truth = per_user["pref"] == "electric"
    hits = (in_segment & truth).sum()
    base_rate = truth.mean()  # what a segment drawn at random would reach as precision
    assert base_rate < 0.4
    assert hits / in_segment.sum() >= 0.8  # precision
    assert hits / truth.sum() >= 0.5  # recall (about 0.85 at the demo size)


def test_drift_moves_views_to_the_new_fuel_type(vehicle_views: pl.DataFrame) -> None:
    drifters = vehicle_views.filter(pl.col("drift_day").is_not_null())
    matches = drifters.with_columns(
        (pl.col("day") >= pl.col("drift_day")).alias("after"),
        (pl.col("fuel_type") == pl.col("new_pref")).alias("new"),
        (pl.col("fuel_type") == pl.col("pref")).alias("old"),
    )
    before = matches.filter(~pl.col("after"))
    after = matches.filter(pl.col("after"))
    assert before.height > 50 and after.height > 50
    assert after["new"].mean() > before["new"].mean() + 0.25
    assert after["old"].mean() < before["old"].mean() - 0.25


def _clicks_top_over_bottom(m: Marketplace) -> float:
    pos = (
        m.events.filter(pl.col("type") == "click")
        .select(pl.col("context").str.json_path_match("$.position").cast(pl.Int64))
        .to_series()
    )
    return (pos == 1).sum() / max((pos == m.config.slate_size).sum(), 1)


def test_position_bias_lowers_clicks_further_down(market: Marketplace) -> None:
    flat = generate_marketplace(
        USERS, ITEMS, DAYS, SEED, config=replace(MarketplaceConfig(), position_decay=0.0)
    )
    biased, unbiased = _clicks_top_over_bottom(market), _clicks_top_over_bottom(flat)
    assert biased > 2.0 * unbiased  # examination 1 at the top, 8 ** -0.5 = 0.35 at the bottom
    impressions = market.events.filter(pl.col("type") == "impression")
    assert impressions["context"].str.contains('"position":1').sum() > 0


def test_popularity_is_skewed(market: Marketplace) -> None:
    counts = market.events.filter(pl.col("type") == "view")["item_id"].value_counts(sort=True)
    top = counts["count"].head(ITEMS // 10).sum() / counts["count"].sum()
    assert top > 0.2  # twice the uniform share (about 0.3 at the demo size)
    appeal = [v["appeal"] for v in market.ground_truth["items"].values()]
    assert max(appeal) == 1.0 and min(appeal) > 0


def test_ground_truth_layout(market: Marketplace) -> None:
    truth = market.ground_truth
    assert truth["params"]["seed"] == SEED and truth["params"]["users"] == USERS
    assert list(truth["users"]) == market.users["user_id"].to_list()
    assert list(truth["items"]) == market.items["item_id"].to_list()
    drifters = [u for u in truth["users"].values() if u["drift"]]
    assert drifters, "some users drift"
    for user in drifters:
        assert 0 < user["drift"]["day"] < DAYS
        assert user["drift"]["fuel_type"] != user["fuel_type"]
    first = next(iter(truth["users"].values()))
    assert set(first) >= {"fuel_type", "fuel_strength", "body_type", "body_strength", "categories"}
    assert sum(first["categories"].values()) == pytest.approx(1.0, abs=1e-3)


def test_utility_prefers_the_users_fuel_type(market: Marketplace) -> None:
    truth = market.ground_truth["users"]
    fan = next(u for u, t in truth.items() if t["fuel_type"] == "electric" and not t["drift"])
    cars = market.items.filter(pl.col("category") == "car")
    electric = cars.filter(pl.col("fuel_type") == "electric")["item_id"].to_list()
    diesel = cars.filter(pl.col("fuel_type") == "diesel")["item_id"].to_list()
    u_e = market.utility([fan] * len(electric), electric, day=0).mean()
    u_d = market.utility([fan] * len(diesel), diesel, day=0).mean()
    assert u_e > u_d + 1.0
    with pytest.raises(ValidationFailedError, match="not in this marketplace"):
        market.utility(["nobody"], [electric[0]], day=0)


def test_bad_arguments_are_refused(market: Marketplace, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailedError, match="users must be at least 1"):
        generate_marketplace(0, 10, 1, 1)
    with pytest.raises(ValidationFailedError, match="format 'xlsx'"):
        write_marketplace(market, tmp_path, "xlsx")  # type: ignore[arg-type]


def test_ground_truth_file_rebuilds_the_same_marketplace(tmp_path: Path) -> None:
    original = generate_marketplace(90, 70, 3, 11, start="2026-02-01")
    paths = write_marketplace(original, tmp_path, "parquet")
    again = regenerate_marketplace(paths["ground_truth"])
    assert again.events.equals(original.events)
    assert again.ground_truth == original.ground_truth
    pair = (["u000001"], [original.items["item_id"][0]])
    assert again.utility(*pair, day=1) == pytest.approx(original.utility(*pair, day=1))
    with pytest.raises(ValidationFailedError, match="not a marketplace ground truth"):
        regenerate_marketplace({"format": "something else"})


def test_out_of_stock_items_are_never_bought(market: Marketplace) -> None:
    sold_out = market.items.filter(~pl.col("in_stock"))["item_id"].implode()
    carted = market.events.filter(pl.col("type").is_in(["add_to_cart", "purchase"]))
    assert carted.height > 0
    assert not carted["item_id"].is_in(sold_out).any()


def test_respond_simulates_clicks_with_preference_and_position_bias(market: Marketplace) -> None:
    truth = market.ground_truth["users"]
    fans = [u for u, t in truth.items() if t["fuel_type"] == "electric" and not t["drift"]]
    cars = market.items.filter(pl.col("category") == "car")
    electric = cars.filter(pl.col("fuel_type") == "electric")["item_id"][0]
    diesel = cars.filter(pl.col("fuel_type") == "diesel")["item_id"][0]
    first = market.respond(fans, [[electric, diesel]] * len(fans), day=0, seed=1)
    second = market.respond(fans, [[diesel, electric]] * len(fans), day=0, seed=2)
    electric_clicks = (first == 0).sum() + (second == 1).sum()
    diesel_clicks = (first == 1).sum() + (second == 0).sum()
    assert electric_clicks > 2 * diesel_clicks
    top_clicks = (first == 0).sum() + (second == 0).sum()
    assert top_clicks > (first == 1).sum() + (second == 1).sum()
    with pytest.raises(ValidationFailedError, match="one list per user"):
        market.respond(fans[:2], [[electric], [electric, diesel]], day=0)


def test_preferred_body_type_drives_views(market: Marketplace) -> None:
    truth = market.ground_truth["users"]
    suv_fans = [u for u, t in truth.items() if t["body_type"] == "suv" and not t["drift"]]
    cars = (
        market.events.filter((pl.col("type") == "view") & pl.col("user_id").is_not_null())
        .join(market.items.filter(pl.col("category") == "car"), on="item_id")
        .with_columns(pl.col("user_id").is_in(suv_fans).alias("fan"))
    )
    base = (cars.filter(~pl.col("fan"))["body_type"] == "suv").mean()
    share = (cars.filter(pl.col("fan"))["body_type"] == "suv").mean()
    assert share is not None and base is not None
    assert share > 0.5 and share > 2 * base


@settings(max_examples=15, deadline=None)
@given(
    users=st.integers(1, 40),
    items=st.integers(1, 40),
    days=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_invariants_hold_for_any_small_marketplace(
    users: int, items: int, days: int, seed: int
) -> None:
    m = generate_marketplace(users, items, days, seed)
    ev = m.events
    assert ev.columns == list(EVENT_COLUMNS)
    assert ev["event_id"].n_unique() == ev.height
    assert ev.filter(pl.col("user_id").is_null() & pl.col("anonymous_id").is_null()).is_empty()
    assert ev["item_id"].drop_nulls().is_in(m.items["item_id"].implode()).all()
    assert ev["user_id"].drop_nulls().is_in(m.users["user_id"].implode()).all()
    gaps = ev.group_by("session_id").agg(pl.col("timestamp").diff().drop_nulls().min())
    min_gap = gaps["timestamp"].drop_nulls().dt.total_milliseconds().min()
    assert min_gap is None or min_gap > 0  # None: no session has two events
    assert len(m.ground_truth["users"]) == users and len(m.ground_truth["items"]) == items
