"""The mixture SPRT: its formula, its interval, and its error rate when checked every day."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tastemaker.experiments.sequential import (
    always_valid_p_value,
    confidence_radius,
    mixture_likelihood_ratio,
    sequential_path,
)
from tastemaker.experiments.stats import proportion_estimate, two_proportion_test

RUNS, DAYS, DAILY = 1_000, 30, 300  # runs, looks, users per arm and day
TAU = 0.01  # tuned for an absolute lift of about one point on a 5% conversion


def test_likelihood_ratio_on_a_hand_worked_example() -> None:
    # V = 1, tau^2 = 3: sqrt(1/4) * exp(3 * 4 / (2 * 1 * 4)) = 0.5 e^1.5
    assert mixture_likelihood_ratio(2.0, 1.0, math.sqrt(3)) == pytest.approx(
        0.5 * math.exp(1.5), rel=1e-9
    )
    assert always_valid_p_value(0.0, 1.0, 1.0) == 1.0  # no evidence: p = 1


def test_the_confidence_sequence_boundary_is_where_lambda_reaches_one_over_alpha() -> None:
    for variance, tau in [(0.3, 1.0), (1e-4, 0.01), (2.0, 0.5)]:
        radius = confidence_radius(variance, tau, alpha=0.05)
        assert mixture_likelihood_ratio(radius, variance, tau) == pytest.approx(20.0, rel=1e-9)


def test_the_path_takes_the_running_minimum_and_intersection() -> None:
    path = sequential_path([0.0, 4.0, 0.0], [1.0, 1.0, 1.0], tau=1.0)
    assert path.p_values[2] == path.p_values[1] < 0.05
    assert path.low[2] == path.low[1] and path.high[2] <= path.high[1]


def _daily_paths(rng: np.random.Generator, rate_t: float):
    sc = rng.binomial(DAILY, 0.05, size=(RUNS, DAYS)).cumsum(axis=1).astype(float)
    st = rng.binomial(DAILY, rate_t, size=(RUNS, DAYS)).cumsum(axis=1).astype(float)
    n = DAILY * np.arange(1, DAYS + 1, dtype=float)
    c, t = proportion_estimate(sc, n), proportion_estimate(st, n)
    diff = np.asarray(t.value) - c.value
    path = sequential_path(diff, np.asarray(c.variance) + t.variance, tau=TAU)
    naive = two_proportion_test(sc, n, st, n).p_value
    return path, naive


def test_sequential_error_rate_stays_under_5_percent_when_checked_every_day() -> None:
    path, naive = _daily_paths(np.random.default_rng(30), 0.05)
    sequential_rate = float(np.mean(path.p_values[:, -1] <= 0.05))
    peeking_rate = float(np.mean((naive <= 0.05).any(axis=1)))
    covered = float(np.mean((path.low[:, -1] <= 0) & (path.high[:, -1] >= 0)))
    print(f"A/A 30 daily looks: sequential {sequential_rate}, naive peeking {peeking_rate}")
    assert sequential_rate < 0.05
    assert covered >= 0.95  # the running interval held 0 on every day
    assert peeking_rate > 0.10  # what the always-valid p-value protects against


def test_sequential_test_finds_a_planted_effect_and_its_interval_holds_the_truth() -> None:
    path, _ = _daily_paths(np.random.default_rng(31), 0.065)
    detected = float(np.mean(path.p_values[:, -1] <= 0.05))
    covered = float(np.mean((path.low[:, -1] <= 0.015) & (path.high[:, -1] >= 0.015)))
    print(f"planted +1.5 points: detected {detected}, interval held the truth {covered}")
    assert detected > 0.6 and covered >= 0.95
