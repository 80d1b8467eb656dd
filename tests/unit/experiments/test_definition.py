"""Experiment definitions: what validates and what is refused, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.definition import canary_experiment, parse_experiment


def definition(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "key": "diversity-test",
        "hypothesis": "more diverse lists raise purchases",
        "variants": [
            {"name": "control", "weight": 1},
            {"name": "diverse", "weight": 1, "serving": {"rerank": {"diversity": {"lambda": 0.5}}}},
        ],
        "targeting": {"segments": ["electric"], "users": "returning", "traffic": 0.5},
        "start": "2026-12-01T00:00:00Z",
        "metrics": {
            "primary": "purchase_rate",
            "secondary": [{"metric": "ctr"}],
            "guardrails": [
                {"metric": "latency_p95_ms", "direction": "decrease", "tolerance": 0.05}
            ],
        },
    }
    return base | changes


def test_a_full_definition_validates_with_defaults_filled_in() -> None:
    exp = parse_experiment(definition())
    assert exp.salt == "diversity-test" and exp.status == "running"
    assert exp.control.name == "control"
    assert exp.metrics.primary.metric == "purchase_rate"
    assert exp.metrics.primary.direction == "increase"
    assert exp.is_running(datetime(2026, 12, 2, tzinfo=UTC))
    assert not exp.is_running(datetime(2026, 11, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"variants": [{"name": "control", "weight": 1}]}, "variants"),
        ({"variants": [{"name": "control", "weight": 0}, {"name": "b", "weight": 1}]},
         "greater than 0"),
        ({"variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}]}, "repeated: a"),
        ({"variants": [{"name": "a", "weight": 1}, {"name": "control", "weight": 1}]},
         "first variant"),
        ({"stop": "2026-11-01T00:00:00Z"}, "must be after start"),
        ({"key": "Bad Key"}, "key"),
        ({"targeting": {"traffic": 1.5}}, "targeting.traffic"),
        ({"metrics": {}}, "metrics.primary"),
        (
            {"variants": [{"name": "control", "weight": 1},
                          {"name": "b", "weight": 1, "serving": {"rerank": {"diversty": {}}}}]},
            "diversty",
        ),
        (
            {"variants": [{"name": "control", "weight": 1},
                          {"name": "b", "weight": 1, "serving": {"featured_policy": "best"}}]},
            "featured_policy",
        ),
    ],
)  # fmt: skip
def test_invalid_definitions_are_refused_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationFailedError) as err:
        parse_experiment(definition(**changes), "exp.yaml")
    assert "exp.yaml" in err.value.message and message in err.value.message


def test_the_canary_shortcut_is_a_two_variant_experiment() -> None:
    exp = canary_experiment("v0002", 10)
    assert exp.key == "canary-v0002"
    assert [(v.name, v.weight, v.serving.model_version) for v in exp.variants] == [
        ("control", 90, None),
        ("treatment", 10, "v0002"),
    ]
