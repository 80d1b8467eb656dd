"""The featured listing: filters are never broken, segments decide, fallbacks never fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.engine.featured import FeaturedService, FeaturedUser
from tastemaker.errors import ValidationFailedError
from tastemaker.profiles.catalog import with_attributes
from tastemaker.profiles.registry import default_rules_text
from tastemaker.profiles.rules import FeaturedConfig, SegmentRules, parse_rules

ATTRS = ["fuel_type", "body_type", "category", "brand", "price_band"]
FUELS = ["electric", "diesel", "petrol", "hybrid"]
BODIES = ["suv", "hatchback", "sedan", "estate", "van"]
BRANDS = ["volt", "dies", "pet", "hyb"]


def _catalog(n: int = 80, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "item_id": [f"i{i:03d}" for i in range(n)],
            "category": rng.choice(["cars", "vans"], n).tolist(),
            "brand": rng.choice(BRANDS, n).tolist(),
            "price": rng.integers(500, 60_000, n).astype(float).tolist(),
            "in_stock": (rng.random(n) > 0.1).tolist(),
            "created_at": (1_760_000_000_000 + rng.integers(0, 10**9, n)).tolist(),
            "fuel_type": rng.choice(FUELS, n).tolist(),
            "body_type": rng.choice(BODIES, n).tolist(),
            "sponsored": (rng.random(n) > 0.7).tolist(),
        }
    ).with_columns(pl.col("created_at").cast(pl.Datetime("ms", "UTC")))
    return with_attributes(frame, ATTRS, [1_000.0, 10_000.0, 30_000.0])


@dataclass
class _Catalog:
    frame: pl.DataFrame
    generation: int = 1

    def items(self) -> pl.DataFrame:
        return self.frame


@dataclass
class _Rules:
    rules: SegmentRules

    def current(self) -> SegmentRules:
        return self.rules


CATALOG = _catalog()
RULES = parse_rules(default_rules_text(), ATTRS)


def _service(rules: SegmentRules = RULES) -> FeaturedService:
    return FeaturedService(_Catalog(CATALOG), _Rules(rules), seed=1)


def _user(
    segments: dict[str, float], excluded: tuple[list[str], list[str]] = ([], [])
) -> FeaturedUser:
    return FeaturedUser(segments, "" if segments else "user has no segment", excluded)


def _holds(item: dict[str, Any], clause: tuple[str, str, Any]) -> bool:
    """Independent reference: does one item satisfy one clause?"""
    name, op, value = clause
    v = item[name]
    if op == ":":
        return str(v).lower() in {x.lower() for x in value}
    if op == "!=":
        return str(v).lower() not in {x.lower() for x in value}
    return {"<": v < value, "<=": v <= value, ">": v > value, ">=": v >= value}[op]


def _text(clauses: list[tuple[str, str, Any]]) -> str:
    """The filter string of clauses (lists of values joined with '|')."""
    return ",".join(
        f"{name}{op}{'|'.join(value) if isinstance(value, list) else f'{value:g}'}"
        for name, op, value in clauses
    )


_text_clause = st.tuples(
    st.sampled_from(["fuel_type", "body_type", "brand"]),
    st.sampled_from([":", "!="]),
    st.lists(st.sampled_from(FUELS + BODIES + BRANDS), min_size=1, max_size=3, unique=True),
)
_price_clause = st.tuples(
    st.just("price"), st.sampled_from(["<", "<=", ">", ">="]),
    st.integers(0, 70_000).map(float),
)  # fmt: skip
_segments = st.dictionaries(
    st.sampled_from(sorted(RULES.segments)), st.floats(0.4, 1.0), max_size=5
)


@settings(max_examples=150, deadline=None)
@given(clauses=st.lists(st.one_of(_text_clause, _price_clause), max_size=4), segs=_segments,
       tie=st.sampled_from(["freshness", "sponsored", "price_low", "price_high"]),
       pool=st.sampled_from([None, "sponsored:true", "brand:volt"]))  # fmt: skip
def test_featured_never_breaks_an_explicit_filter(
    clauses: list[tuple[str, str, Any]], segs: dict[str, float], tie: str, pool: str | None
) -> None:
    rules = SegmentRules(RULES.segments, FeaturedConfig(pool=pool, tie_break=tie))
    result = _service(rules).choose(_user(segs), _text(clauses))
    rows = CATALOG.filter(pl.col("in_stock")).to_dicts()
    matching = [r for r in rows if all(_holds(r, c) for c in clauses)]
    if not matching:
        assert result.item is None and result.rule == "none"
        return
    assert result.item is not None
    assert result.item["in_stock"] is True
    assert all(_holds(result.item, c) for c in clauses), (result.item, clauses)
    if pool is not None and any(_holds(r, (pool.split(":")[0], ":", [pool.split(":")[1]]))
                                for r in matching):  # fmt: skip
        assert _holds(result.item, (pool.split(":")[0], ":", [pool.split(":")[1]]))


def test_segments_choose_an_item_of_every_strong_segment() -> None:
    result = _service().choose(_user({"electric": 0.8, "suv": 0.6}), "price<60000")
    assert result.personalized and result.item is not None
    assert (result.item["fuel_type"], result.item["body_type"]) == ("electric", "suv")
    assert result.rule == "segments:electric+suv"
    assert result.segments == {"electric": 0.8, "suv": 0.6}


def test_a_conflicting_filter_wins_over_the_segment() -> None:
    result = _service().choose(_user({"electric": 0.9, "suv": 0.5}), "fuel_type:diesel")
    assert result.item is not None and result.item["fuel_type"] == "diesel"
    assert result.item["body_type"] == "suv"  # the remaining applicable segment still counts
    assert result.rule == "segments:suv"


def test_ties_follow_the_secondary_order() -> None:
    user = _user({"electric": 0.9})
    fresh = _service().choose(user, "fuel_type:electric")
    matches = CATALOG.filter(pl.col("in_stock") & (pl.col("fuel_type") == "electric"))
    assert fresh.item is not None
    newest = matches.sort("created_at", descending=True)["item_id"][0]
    assert fresh.item["item_id"] == newest
    cheap = parse_rules(default_rules_text() + "", ATTRS)
    cheap.featured = type(cheap.featured)(tie_break="price_low")
    got = _service(cheap).choose(user, "fuel_type:electric").item
    assert got is not None and got["item_id"] == matches.sort("price")["item_id"][0]


@pytest.mark.parametrize(
    "user",
    [FeaturedUser(), FeaturedUser(why="unknown user"), _user({}),
     FeaturedUser(why="profile store unavailable")],
)  # fmt: skip
def test_fallback_is_a_random_eligible_item_never_an_error(user: FeaturedUser) -> None:
    result = _service().choose(user, "body_type:van")
    assert result.rule == "fallback:random" and not result.personalized
    assert result.reason == user.why
    assert result.item is not None and result.item["body_type"] == "van"


def test_items_the_user_refused_or_bought_are_never_featured() -> None:
    segments = {"electric": 0.9, "suv": 0.6}
    service = _service()
    refused: list[str] = []
    bought: list[str] = []
    shown = []
    for turn in range(6):  # each time the best item is refused (or bought), the next one wins
        item = service.choose(_user(segments, (bought, refused)), "fuel_type:electric").item
        assert item is not None
        assert item["item_id"] not in refused and item["item_id"] not in bought
        shown.append(item["item_id"])
        (refused if turn % 2 else bought).append(item["item_id"])
    assert len(set(shown)) == 6


def test_malformed_filters_are_refused() -> None:
    with pytest.raises(ValidationFailedError, match="filters"):
        _service().choose(_user({}), "price<cheap")
    with pytest.raises(ValidationFailedError, match="unknown field"):
        _service().choose(_user({}), "colour:red")
