"""The correctness bars of issue #14, on 1,000 simulated experiments (vectorized across runs).

Each simulation draws per-user data for all runs at once (runs on the first axis, users on
the last) and calls the production statistics on the arrays. Seeds are fixed, so each
measured rate is one number; the bars are those of the issue.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

from tastemaker.experiments.stats import (
    cuped_adjust,
    mean_estimate,
    ratio_estimate,
    srm_check,
    two_proportion_test,
    welch_test,
    z_test,
)

RUNS = 1_000
USERS = 2_000  # per arm and run
Array = npt.NDArray[np.float64]


def _conversions(rng: np.random.Generator, rate_c: float, rate_t: float):
    sc = rng.binomial(USERS, rate_c, size=RUNS).astype(float)
    st = rng.binomial(USERS, rate_t, size=RUNS).astype(float)
    return two_proportion_test(sc, float(USERS), st, float(USERS))


def _covers(low: Array, high: Array, truth: float) -> Array:
    return (low <= truth) & (high >= truth)


def _revenue(rng: np.random.Generator, lift: float = 1.0) -> Array:
    # 10% buyers spending lognormal amounts: a skewed revenue-per-user metric (mean 6.05 * lift)
    buys = rng.random((RUNS, USERS)) < 0.1
    return np.where(buys, rng.lognormal(4.0, 0.8, size=(RUNS, USERS)) * lift, 0.0)


def _clicks(rng: np.random.Generator, ctr_lift: float = 1.0) -> tuple[Array, Array]:
    # per-user click propensity varies (clustered clicks); impressions 1 + Poisson(5)
    impressions = 1 + rng.poisson(5, size=(RUNS, USERS))
    ctr = rng.beta(2, 18, size=(RUNS, USERS)) * ctr_lift
    return rng.binomial(impressions, ctr).astype(float), impressions.astype(float)


def test_aa_false_positive_rate_of_conversion_revenue_and_ratio_metrics() -> None:
    rng = np.random.default_rng(2026)
    conversion = _conversions(rng, 0.05, 0.05).p_value
    revenue = welch_test(mean_estimate(_revenue(rng)), mean_estimate(_revenue(rng))).p_value
    ctr = z_test(ratio_estimate(*_clicks(rng)), ratio_estimate(*_clicks(rng))).p_value
    rates = {k: float(np.mean(p < 0.05)) for k, p in
             {"conversion": conversion, "revenue": revenue, "ctr": ctr}.items()}  # fmt: skip
    print("A/A false-positive rates", rates)
    assert all(0.035 <= r <= 0.065 for r in rates.values()), rates


def test_interval_coverage_of_planted_effects() -> None:
    rng = np.random.default_rng(14)
    conv = _conversions(rng, 0.05, 0.06)
    rev = welch_test(mean_estimate(_revenue(rng)), mean_estimate(_revenue(rng, lift=1.1)))
    ctr = z_test(ratio_estimate(*_clicks(rng)), ratio_estimate(*_clicks(rng, ctr_lift=1.2)))
    revenue_mean = 0.1 * np.exp(4.0 + 0.8**2 / 2)
    covered = {
        "conversion_abs": _covers(conv.abs_low, conv.abs_high, 0.01),
        "conversion_rel": _covers(conv.rel_low, conv.rel_high, 0.2),
        "revenue_abs": _covers(rev.abs_low, rev.abs_high, 0.1 * revenue_mean),
        "revenue_rel": _covers(rev.rel_low, rev.rel_high, 0.1),
        "ctr_abs": _covers(ctr.abs_low, ctr.abs_high, 0.02),  # 0.1 * 1.2 - 0.1
        "ctr_rel": _covers(ctr.rel_low, ctr.rel_high, 0.2),
    }
    rates = {k: float(np.mean(v)) for k, v in covered.items()}
    print("95% interval coverage", rates)
    assert all(0.93 <= r <= 0.97 for r in rates.values()), rates


def _cuped_narrowing(rng: np.random.Generator, rho: float) -> float:
    pre = [rng.normal(10, 3, size=(RUNS, USERS)) for _ in range(2)]
    post = [10 + rho * (x - 10) + np.sqrt(1 - rho**2) * rng.normal(0, 3, x.shape) for x in pre]
    post[1] = post[1] + 0.1
    raw = welch_test(mean_estimate(post[0]), mean_estimate(post[1]))
    adjusted, _ = cuped_adjust(post, pre)
    cuped = welch_test(mean_estimate(adjusted[0]), mean_estimate(adjusted[1]))
    ratio = (cuped.abs_high - cuped.abs_low) / (raw.abs_high - raw.abs_low)
    truth = _covers(cuped.abs_low, cuped.abs_high, 0.1)
    assert 0.93 <= np.mean(truth) <= 0.97  # CUPED keeps the interval honest
    return float(1 - np.mean(ratio))


def test_cuped_narrows_the_interval_when_the_pre_period_correlates() -> None:
    rng = np.random.default_rng(3)
    narrowing = {rho: _cuped_narrowing(rng, rho) for rho in (0.6, 0.7, 0.8)}
    print("CUPED narrowing of the 95% interval", narrowing)
    # CUPED narrows the interval by its theoretical 1 - sqrt(1 - rho^2): 20% at rho = 0.6,
    # 28.6% at 0.7, 40% at 0.8 (observed within 0.0006 of each; asserting ">= 0.2" sat on the
    # edge at 0.6, passing or failing with the seed)
    for rho, n in narrowing.items():
        assert abs(n - (1 - np.sqrt(1 - rho**2))) < 0.005, narrowing
    assert narrowing[0.6] < narrowing[0.7] < narrowing[0.8]


def _srm_flag_rate(rng: np.random.Generator, share: float, threshold: float) -> float:
    control = rng.binomial(10_000, share, size=RUNS)
    flags = [
        srm_check({"control": int(c), "b": 10_000 - int(c)}, {"control": 1, "b": 1}, threshold)
        .mismatch for c in control
    ]  # fmt: skip
    return float(np.mean(flags))


def test_srm_flags_a_55_45_split_declared_50_50_and_rarely_a_correct_one() -> None:
    rng = np.random.default_rng(55)
    rates = {
        "55/45 as 50/50": _srm_flag_rate(rng, 0.55, 0.001),
        "50/50, p < 0.001": _srm_flag_rate(rng, 0.5, 0.001),
        "50/50, p < 0.05": _srm_flag_rate(rng, 0.5, 0.05),
    }
    print("SRM flag rates", rates)
    assert rates["55/45 as 50/50"] == 1.0
    assert rates["50/50, p < 0.001"] <= 0.01
    assert rates["50/50, p < 0.05"] <= 0.065  # about 5% at most, even at the loosest threshold


def test_the_chi_square_threshold_matches_its_distribution() -> None:
    # a sanity check of the SRM statistic's null: p-values near uniform over 1,000 runs
    rng = np.random.default_rng(1)
    control = rng.binomial(10_000, 0.5, size=RUNS)
    p = [srm_check({"c": int(c), "b": 10_000 - int(c)}, {"c": 1, "b": 1}).p_value for c in control]
    assert stats.kstest(p, "uniform").pvalue > 0.001
