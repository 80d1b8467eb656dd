"""Each statistic against scipy / statsmodels or a closed form computed here, to 1e-9."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.stats import (
    Comparison,
    Guardrail,
    cuped_adjust,
    cuped_theta,
    guardrail_verdict,
    holm,
    mean_estimate,
    ratio_estimate,
    relative_interval,
    srm_check,
    two_proportion_test,
    welch_test,
    z_test,
)

REL = 1e-9
RNG = np.random.default_rng(7)
CONTROL = RNG.lognormal(1.0, 0.8, size=40)
TREATMENT = RNG.lognormal(1.2, 1.0, size=55)


def test_welch_equals_scipy_ttest_ind_unequal_variances() -> None:
    res = stats.ttest_ind(TREATMENT, CONTROL, equal_var=False)
    ci = res.confidence_interval(0.95)
    c = welch_test(mean_estimate(CONTROL), mean_estimate(TREATMENT))
    assert c.p_value == pytest.approx(res.pvalue, rel=REL)
    assert c.abs_diff == pytest.approx(TREATMENT.mean() - CONTROL.mean(), rel=REL)
    assert (c.abs_low, c.abs_high) == pytest.approx((ci.low, ci.high), rel=REL)
    assert c.test == "welch_t"


def test_welch_interval_at_another_alpha_equals_scipy() -> None:
    res = stats.ttest_ind(TREATMENT, CONTROL, equal_var=False)
    ci = res.confidence_interval(0.90)
    c = welch_test(mean_estimate(CONTROL), mean_estimate(TREATMENT), alpha=0.10)
    assert (c.abs_low, c.abs_high) == pytest.approx((ci.low, ci.high), rel=REL)


def test_two_proportion_z_equals_statsmodels() -> None:
    _, p = proportions_ztest([130, 101], [2000, 1900])
    low, high = confint_proportions_2indep(130, 2000, 101, 1900, method="wald", compare="diff")
    c = two_proportion_test(101, 1900, 130, 2000)
    assert c.p_value == pytest.approx(p, rel=REL)
    assert (c.abs_low, c.abs_high) == pytest.approx((low, high), rel=REL)
    assert c.abs_diff == pytest.approx(130 / 2000 - 101 / 1900, rel=REL)


def test_ratio_variance_equals_the_linearized_closed_form() -> None:
    impressions = RNG.poisson(6, size=300) + 1.0
    clicks = RNG.binomial(impressions.astype(int), 0.1).astype(float)
    est = ratio_estimate(clicks, impressions)
    r = clicks.sum() / impressions.sum()
    # linearization: Var(R) = Var(clicks_i - R impressions_i) / (n mean(impressions)^2)
    linear = clicks - r * impressions
    direct = linear.var(ddof=1) / (len(clicks) * impressions.mean() ** 2)
    assert est.value == pytest.approx(r, rel=REL)
    assert est.variance == pytest.approx(direct, rel=REL)


def test_ratio_variance_on_a_hand_worked_example() -> None:
    # num (1, 2, 3), den (2, 2, 2): R = 1, linearized values (-1, 0, 1), var 1, / (3 * 4)
    est = ratio_estimate([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert (est.value, est.variance) == pytest.approx((1.0, 1.0 / 12.0), rel=REL)


def test_relative_interval_equals_the_delta_method_closed_form() -> None:
    ec, et = mean_estimate(CONTROL), mean_estimate(TREATMENT)
    mc, mt = CONTROL.mean(), TREATMENT.mean()
    vc, vt = CONTROL.var(ddof=1) / CONTROL.size, TREATMENT.var(ddof=1) / TREATMENT.size
    # gradient of t / c is (-t / c^2, 1 / c)
    se = np.sqrt((mt / mc**2) ** 2 * vc + (1 / mc) ** 2 * vt)
    rel, low, high = relative_interval(ec, et, 0.05)
    z = stats.norm.ppf(0.975)
    assert rel == pytest.approx(mt / mc - 1, rel=REL)
    assert (low, high) == pytest.approx((mt / mc - 1 - z * se, mt / mc - 1 + z * se), rel=REL)


def test_z_test_on_ratio_estimates_is_a_normal_test_of_the_difference() -> None:
    a = ratio_estimate([1.0, 2.0, 3.0, 2.0], [2.0, 2.0, 3.0, 1.0])
    b = ratio_estimate([2.0, 2.0, 4.0, 3.0], [2.0, 3.0, 3.0, 1.0])
    c = z_test(a, b)
    z = (b.value - a.value) / np.sqrt(a.variance + b.variance)
    assert c.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=REL)


def test_cuped_theta_is_the_ols_slope_and_shrinks_the_variance() -> None:
    x = RNG.normal(size=500)
    y = 2.0 + 0.7 * x + RNG.normal(size=500)
    assert cuped_theta(y, x) == pytest.approx(np.polyfit(x, y, 1)[0], rel=REL)
    (adj,), _ = cuped_adjust([y], [x])
    rho = np.corrcoef(x, y)[0, 1]
    assert adj.var(ddof=1) == pytest.approx(y.var(ddof=1) * (1 - rho**2), rel=REL)
    assert adj.mean() == pytest.approx(y.mean(), rel=REL)


def test_cuped_pools_theta_over_variants() -> None:
    x = [RNG.normal(size=50), RNG.normal(size=60)]
    y = [xi * 0.5 + RNG.normal(size=xi.size) for xi in x]
    _, theta = cuped_adjust(y, x)
    assert theta == pytest.approx(cuped_theta(np.concatenate(y), np.concatenate(x)), rel=REL)


def test_srm_equals_scipy_chisquare_and_a_hand_computation() -> None:
    srm = srm_check({"control": 5100, "a": 4900}, {"control": 0.5, "a": 0.5})
    hand = (100**2 / 5000) * 2
    assert srm.statistic == pytest.approx(hand, rel=REL)
    assert srm.p_value == pytest.approx(stats.chi2.sf(hand, df=1), rel=REL)
    res = stats.chisquare([5100, 4900], f_exp=[5000, 5000])
    assert srm.p_value == pytest.approx(res.pvalue, rel=REL)
    assert not srm.mismatch


def test_srm_rejects_mismatched_variant_names() -> None:
    with pytest.raises(ValidationFailedError):
        srm_check({"control": 1, "b": 2}, {"control": 1, "a": 1})


def test_holm_on_a_hand_worked_example() -> None:
    # sorted 0.01, 0.02, 0.04 times 3, 2, 1 -> 0.03, 0.04, 0.04 (monotone)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04], rel=REL)
    assert holm([]) == []


def _rel_ci(low: float, high: float) -> Comparison:
    return Comparison(1.0, 1.0, 0.0, 0.0, 0.0, (low + high) / 2, low, high, 0.5, "welch_t")


@pytest.mark.parametrize(
    ("low", "high", "better", "verdict"),
    [
        (-0.01, 0.03, "higher", "pass"),  # never worse than -2%
        (-0.08, -0.03, "higher", "fail"),  # surely worse than -2%
        (-0.05, 0.01, "higher", "inconclusive"),
        (-0.03, 0.01, "lower", "pass"),  # a lower-is-better metric rising at most 1%
        (0.03, 0.08, "lower", "fail"),
    ],
)
def test_guardrail_verdicts(low: float, high: float, better: str, verdict: str) -> None:
    guard = Guardrail(better=better, tolerance=0.02)  # type: ignore[arg-type]
    assert guardrail_verdict(_rel_ci(low, high), guard) == verdict


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 1e4), min_size=2, max_size=30),
    st.lists(st.floats(0, 1e4), min_size=2, max_size=30),
)
def test_p_values_are_probabilities_and_intervals_hold_their_estimate(
    control: list[float], treatment: list[float]
) -> None:
    c = welch_test(mean_estimate(control), mean_estimate(treatment))
    assert 0.0 <= c.p_value <= 1.0
    if np.isfinite(c.abs_low):
        assert c.abs_low <= c.abs_diff <= c.abs_high


def test_an_arm_without_any_conversion_gives_p_one_and_no_relative_difference() -> None:
    c = two_proportion_test(0, 100, 0, 100)
    assert c.p_value == 1.0 and np.isnan(c.rel_diff)
    assert guardrail_verdict(c, Guardrail()) == "inconclusive"
