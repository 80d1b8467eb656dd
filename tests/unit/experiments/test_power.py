"""Sample size and runtime: statsmodels' conventions, checked against the power formula."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from statsmodels.stats.power import zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.power import runtime_days, sample_size, sample_size_means


def _power(effect: float, n1: float, alpha: float, ratio: float = 1.0) -> float:
    # two-sided z-test power with both tails, written out independently of statsmodels
    z = stats.norm.ppf(1 - alpha / 2)
    shift = abs(effect) * math.sqrt(n1 * ratio / (1 + ratio))
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def test_the_cli_example_equals_statsmodels_and_reaches_the_power() -> None:
    # tastemaker experiments power --baseline 0.05 --mde 0.02 --alpha 0.05 --power 0.8
    size = sample_size(0.05, 0.02, alpha=0.05, power=0.8)
    h = 2 * math.asin(math.sqrt(0.07)) - 2 * math.asin(math.sqrt(0.05))
    assert size.effect_size == pytest.approx(h, rel=1e-9)
    expected = zt_ind_solve_power(proportion_effectsize(0.07, 0.05), alpha=0.05, power=0.8)
    assert size.exact == pytest.approx(expected, rel=1e-9)
    assert _power(h, size.exact, 0.05) == pytest.approx(0.8, rel=1e-9)
    assert size.control == size.treatment == math.ceil(size.exact) == 2199


def test_a_negative_mde_needs_users_too_and_the_ratio_scales_treatment() -> None:
    size = sample_size(0.10, -0.01, alpha=0.01, power=0.9, ratio=2.0)
    assert _power(size.effect_size, size.exact, 0.01, ratio=2.0) == pytest.approx(0.9, rel=1e-9)
    assert size.treatment == math.ceil(size.exact * 2)


def test_means_use_cohens_d_with_the_known_sd() -> None:
    size = sample_size_means(0.5, 10.0, alpha=0.05, power=0.8)
    expected = zt_ind_solve_power(0.05, alpha=0.05, power=0.8)
    assert size.exact == pytest.approx(expected, rel=1e-9)
    # the textbook 2 (z_a + z_b)^2 / d^2 ignores the far tail's bit of power, so asks a bit more
    approx = 2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 / 0.05**2
    assert size.exact < approx and size.exact == pytest.approx(approx, rel=1e-5)


def test_runtime_is_the_slowest_arm_at_the_traffic() -> None:
    size = sample_size(0.05, 0.02)  # 2199 per arm
    assert runtime_days(size, users_per_day=1000) == 5  # 2199 / 500 a day
    assert runtime_days(size, users_per_day=1000, weights=(0.8, 0.2)) == 11  # 2199 / 200


@pytest.mark.parametrize(("baseline", "mde"), [(0.0, 0.01), (0.95, 0.06), (0.5, 0.0)])
def test_impossible_rates_are_rejected(baseline: float, mde: float) -> None:
    with pytest.raises(ValidationFailedError):
        sample_size(baseline, mde)
