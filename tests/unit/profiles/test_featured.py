"""The featured listing: filters are never broken, segments decide, fallbacks never fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tastemaker.errors import StoreUnavailableError, ValidationFailedError
from tastemaker.profiles.catalog import with_attributes
from tastemaker.profiles.featured import FeaturedService
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


@dataclass
class _Profiles:
    """Stands in for ProfileService: fixed segments per user, or a dead store."""

    rules: _Rules
    users: dict[str, dict[str, float]] = field(default_factory=dict)
    down: bool = False

    def segments(self, user_id: str) -> dict[str, float] | None:
        if self.down:
            raise StoreUnavailableError("profile store unreachable")
        return self.users.get(user_id)


CATALOG = _catalog()
RULES = parse_rules(default_rules_text(), ATTRS)


def _service(users: dict[str, dict[str, float]] | None = None, rules: SegmentRules = RULES,
             down: bool = False) -> FeaturedService:  # fmt: skip
    profiles = _Profiles(_Rules(rules), users or {}, down)
    return FeaturedService(profiles, _Catalog(CATALOG), seed=1)  # type: ignore[arg-type]


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
    result = _service({"u": segs}, rules).choose("u", _text(clauses))
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
    result = _service({"u": {"electric": 0.8, "suv": 0.6}}).choose("u", "price<60000")
    assert result.personalized and result.item is not None
    assert (result.item["fuel_type"], result.item["body_type"]) == ("electric", "suv")
    assert result.rule == "segments:electric+suv"
    assert result.segments == {"electric": 0.8, "suv": 0.6}


def test_a_conflicting_filter_wins_over_the_segment() -> None:
    result = _service({"u": {"electric": 0.9, "suv": 0.5}}).choose("u", "fuel_type:diesel")
    assert result.item is not None and result.item["fuel_type"] == "diesel"
    assert result.item["body_type"] == "suv"  # the remaining applicable segment still counts
    assert result.rule == "segments:suv"


def test_ties_follow_the_secondary_order() -> None:
    users = {"u": {"electric": 0.9}}
    fresh = _service(users).choose("u", "fuel_type:electric")
    matches = CATALOG.filter(pl.col("in_stock") & (pl.col("fuel_type") == "electric"))
    assert fresh.item is not None
    newest = matches.sort("created_at", descending=True)["item_id"][0]
    assert fresh.item["item_id"] == newest
    cheap = parse_rules(default_rules_text() + "", ATTRS)
    cheap.featured = type(cheap.featured)(tie_break="price_low")
    got = _service(users, cheap).choose("u", "fuel_type:electric").item
    assert got is not None and got["item_id"] == matches.sort("price")["item_id"][0]


@pytest.mark.parametrize(
    ("user", "users", "down", "reason"),
    [
        (None, {}, False, "anonymous request"),
        ("ghost", {}, False, "unknown user"),
        ("u", {"u": {}}, False, "user has no segment"),
        ("u", {"u": {"electric": 0.9}}, True, "profile store unavailable"),
    ],
)
def test_fallback_is_a_random_eligible_item_never_an_error(
    user: str | None, users: dict[str, dict[str, float]], down: bool, reason: str
) -> None:
    result = _service(users, down=down).choose(user, "body_type:van")
    assert result.rule == "fallback:random" and not result.personalized
    assert result.reason == reason
    assert result.item is not None and result.item["body_type"] == "van"


def test_malformed_filters_are_refused() -> None:
    with pytest.raises(ValidationFailedError, match="filters"):
        _service().choose("u", "price<cheap")
    with pytest.raises(ValidationFailedError, match="unknown field"):
        _service().choose("u", "colour:red")
