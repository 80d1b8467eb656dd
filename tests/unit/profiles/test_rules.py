"""Segment rules files: valid files compile, bad ones are refused with line and reason."""

from __future__ import annotations

import pytest

from tastemaker.errors import ValidationFailedError
from tastemaker.profiles.registry import default_rules_text
from tastemaker.profiles.rules import Composite, Leaf, Ref, parse_rules

ATTRS = ["fuel_type", "body_type", "category", "brand", "price_band"]


def test_default_rules_compile_with_references_after_their_targets() -> None:
    rules = parse_rules(default_rules_text(), ATTRS)
    names = list(rules.segments)
    assert {"electric", "suv", "electric_suv"} <= set(names)
    assert names.index("electric") < names.index("electric_suv")
    leaf = rules.segments["electric"]
    assert isinstance(leaf, Leaf)
    assert (leaf.min_share, leaf.exit_share, leaf.min_events) == (0.5, 0.4, 3)
    both = rules.segments["electric_suv"]
    assert isinstance(both, Composite) and both.op == "all"
    assert all(isinstance(c, Ref) for c in both.children)


def test_leaf_values_list_and_own_thresholds() -> None:
    text = """
defaults: {min_share: 0.6, min_events: 2}
segments:
  green: {attribute: fuel_type, value: [electric, hybrid], exit_share: 0.3, window_days: 5}
"""
    leaf = parse_rules(text, ATTRS).segments["green"]
    assert isinstance(leaf, Leaf)
    assert leaf.values == frozenset({"electric", "hybrid"})
    assert (leaf.min_share, leaf.exit_share, leaf.min_events, leaf.window_days) == (
        0.6, 0.3, 2, 5.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("segments:\n  a: {attribute: fuel_type, value: x, min_share: 1.5}\n", 2, "min_share"),
        ("segments:\n  a: {attribute: colour, value: red}\n", 2, "not profiled"),
        ("segments:\n  a:\n    attribute: fuel_type\n    value: x\n    exit_share: 0.9\n", 5,
         "must not exceed"),
        ("segments:\n  a: {all: [{segment: b}]}\n  b: {all: [{segment: a}]}\n", 2, "cycle"),
        ("segments:\n  a: {all: [{segment: nope}]}\n", 2, "unknown segment"),
        ("segments:\n  a: {attribute: fuel_type, value: x\n", 3, "not valid YAML"),
        ("segmnts: {}\n", 1, "unknown top-level key"),
        ("segments:\n  a: {attribute: fuel_type, value: x, window_days: 30}\n", 2, "window_days"),
        ("segments:\n  Bad Name: {attribute: fuel_type, value: x}\n", 2, "segment name"),
        ("featured: {tie_break: cheapest}\nsegments: {}\n", 1, "tie_break"),
    ],
)  # fmt: skip
def test_invalid_files_name_line_and_reason(text: str, line: int, words: str) -> None:
    with pytest.raises(ValidationFailedError) as err:
        parse_rules(text, ATTRS, max_window_days=10)
    assert f"line {line}:" in err.value.message
    assert words in err.value.message
    assert err.value.details["line"] == line
