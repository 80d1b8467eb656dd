"""Thompson sampling: exact two-arm probabilities, Monte-Carlo for more, the history."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy import integrate, stats

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.bandit import (
    AllocationHistory,
    prob_b_beats_a,
    thompson_probabilities,
)


@pytest.mark.parametrize(("a", "b"), [((3, 8), (5, 6)), ((21, 180), (30, 171)), ((1, 1), (2, 1))])
def test_two_arm_probability_equals_numerical_integration(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    xa, xb = stats.beta(*a), stats.beta(*b)
    numeric, _ = integrate.quad(lambda x: xb.pdf(x) * xa.cdf(x), 0, 1, epsabs=1e-13)
    assert prob_b_beats_a(*a, *b) == pytest.approx(numeric, rel=1e-9)


def test_monte_carlo_agrees_with_the_exact_two_arm_answer() -> None:
    exact = thompson_probabilities([20, 29], [200, 200])
    samples = np.random.default_rng(0).beta([21, 30], [181, 172], size=(200_000, 2))
    assert exact[1] == pytest.approx(np.mean(samples[:, 1] > samples[:, 0]), abs=0.005)
    assert exact.sum() == pytest.approx(1.0)


def test_three_arms_are_seeded_and_favour_the_best() -> None:
    p = thompson_probabilities([10, 10, 30], [200, 200, 200], seed=1)
    assert p.sum() == pytest.approx(1.0) and p[2] > 0.99
    assert np.array_equal(p, thompson_probabilities([10, 10, 30], [200, 200, 200], seed=1))
    equal = thompson_probabilities([10, 10, 10], [100, 100, 100], draws=60_000)
    assert equal == pytest.approx([1 / 3] * 3, abs=0.01)


def test_history_records_each_step_with_a_floor() -> None:
    history = AllocationHistory(arms=("control", "b"), floor=0.1)
    assert history.current == {"control": 0.5, "b": 0.5}
    day = datetime(2026, 12, 1, tzinfo=UTC)
    history = history.record(day, [5, 40], [500, 500])
    assert len(history.steps) == 1 and history.current["control"] == pytest.approx(0.1 / 1.1)
    json.dumps(history.to_dict())  # JSON-ready
    assert history.to_dict()["steps"][0]["at"] == "2026-12-01T00:00:00+00:00"


def test_bad_counts_are_rejected() -> None:
    with pytest.raises(ValidationFailedError):
        thompson_probabilities([5, 11], [10, 10])
