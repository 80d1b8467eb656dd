"""The statistics of one comparison: estimates, tests, CUPED, SRM, Holm, guardrails.

Each variant is summarized as an :class:`Estimate`: a point value, the sampling variance of
that value and the number of users. Every test takes two estimates (control, treatment) and
returns a :class:`Comparison`. The arithmetic is numpy with scipy's distributions, so the
same functions take arrays (one entry per simulated experiment) for the simulation tests;
their results equal ``scipy.stats.ttest_ind(equal_var=False)``, statsmodels'
``proportions_ztest`` and ``scipy.stats.chisquare`` (checked in the tests to 1e-9).

References: Welch (1947); the delta method for ratios as in Deng, Knoblich & Lu (2018),
"Applying the delta method in metric analytics"; CUPED from Deng, Xu, Kohavi & Walker (2013).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tastemaker.errors import ValidationFailedError

#: A float, or an array of floats with one entry per simulated experiment.
Num: TypeAlias = float | npt.NDArray[np.float64]
Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class Estimate:
    """One variant's estimate: ``value``, the variance of that value and the user count."""

    value: Num
    variance: Num
    n: Num


@dataclass(frozen=True)
class Comparison:
    """Treatment against control: absolute and relative difference, intervals, p-value."""

    control: Num
    treatment: Num
    abs_diff: Num
    abs_low: Num
    abs_high: Num
    rel_diff: Num
    rel_low: Num
    rel_high: Num
    p_value: Num
    test: str


def mean_estimate(values: npt.ArrayLike) -> Estimate:
    """The mean of per-user values with its variance ``s^2 / n`` (s with ddof=1).

    Users run along the last axis; leading axes (simulated experiments) give array fields.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[-1] if v.ndim else 0
    if n < 2:
        raise ValidationFailedError(f"a mean needs at least 2 users, got {n}")
    return Estimate(_num(v.mean(axis=-1)), _num(v.var(axis=-1, ddof=1) / n), n)


def _num(x: npt.NDArray[np.float64]) -> Num:
    return float(x) if np.ndim(x) == 0 else x


def proportion_estimate(successes: Num, n: Num) -> Estimate:
    """A conversion rate ``successes / n`` with its binomial variance ``p (1 - p) / n``."""
    p = np.asarray(successes, dtype=np.float64) / n
    return Estimate(p, p * (1.0 - p) / n, n)


def ratio_estimate(numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> Estimate:
    """A ratio metric ``sum(num) / sum(den)`` over users, variance by the delta method.

    Users are the randomization unit, so the per-user pairs are clustered observations:
    ``Var(R) = (s_n^2 - 2 R s_nd + R^2 s_d^2) / (n mu_d^2)`` with sample (co)variances
    (ddof=1). Users run along the last axis.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    n = num.shape[-1] if num.ndim else 0
    if n < 2 or num.shape != den.shape or (den.sum(axis=-1) <= 0).any():
        raise ValidationFailedError(f"a ratio metric needs 2 users and a denominator > 0 ({n})")
    mu_n, mu_d = num.mean(axis=-1), den.mean(axis=-1)
    ratio = mu_n / mu_d
    dn, dd = num - mu_n[..., None], den - mu_d[..., None]
    s_nn, s_dd, s_nd = ((a * b).sum(axis=-1) / (n - 1) for a, b in ((dn, dn), (dd, dd), (dn, dd)))
    var = (s_nn - 2 * ratio * s_nd + ratio**2 * s_dd) / (n * mu_d**2)
    return Estimate(_num(ratio), _num(var), n)


def relative_interval(control: Estimate, treatment: Estimate, alpha: float) -> tuple[Num, Num, Num]:
    """Relative difference ``t / c - 1`` with a normal interval from the delta method.

    ``Var(t / c) = Var(t) / c^2 + t^2 Var(c) / c^4`` (independent groups). Returns
    (relative difference, low, high); nan when the control value is 0.
    """
    c, t = np.asarray(control.value, dtype=np.float64), np.asarray(treatment.value)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = t / c - 1.0
        se = np.sqrt(treatment.variance / c**2 + t**2 * control.variance / c**4)
    half = stats.norm.ppf(1 - alpha / 2) * se
    return rel, rel - half, rel + half


def welch_test(control: Estimate, treatment: Estimate, alpha: float = 0.05) -> Comparison:
    """Welch's t-test on the difference of means (treatment - control), with its interval.

    Degrees of freedom by Welch-Satterthwaite; equals ``scipy.stats.ttest_ind(equal_var=False)``.
    """
    vc, vt = control.variance, treatment.variance
    diff = np.asarray(treatment.value) - control.value
    se = np.sqrt(vc + vt)
    with np.errstate(divide="ignore", invalid="ignore"):  # no variance: p = 1, no interval
        df = (vc + vt) ** 2 / (vc**2 / (np.asarray(control.n) - 1) + vt**2 / (treatment.n - 1))
        p = 2 * stats.t.sf(np.abs(diff / se), df)
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return _comparison(control, treatment, diff, half, p, "welch_t", alpha)


def z_test(control: Estimate, treatment: Estimate, alpha: float = 0.05) -> Comparison:
    """Normal test on the difference of two estimates (used for delta-method ratio metrics)."""
    diff = np.asarray(treatment.value) - control.value
    se = np.sqrt(np.asarray(control.variance) + treatment.variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(diff / se))
    half = stats.norm.ppf(1 - alpha / 2) * se
    return _comparison(control, treatment, diff, half, p, "z_delta", alpha)


def two_proportion_test(
    successes_c: Num, n_c: Num, successes_t: Num, n_t: Num, alpha: float = 0.05
) -> Comparison:
    """Two-proportion z-test: pooled variance for the p-value, unpooled (Wald) interval.

    The p-value equals statsmodels ``proportions_ztest``; the interval equals
    ``confint_proportions_2indep(method="wald")``.
    """
    control = proportion_estimate(successes_c, n_c)
    treatment = proportion_estimate(successes_t, n_t)
    pooled = (np.asarray(successes_c) + successes_t) / (np.asarray(n_c) + n_t)
    diff = np.asarray(treatment.value) - control.value
    se_pooled = np.sqrt(pooled * (1 - pooled) * (1.0 / np.asarray(n_c) + 1.0 / np.asarray(n_t)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.norm.sf(np.abs(diff / se_pooled))
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(
        np.asarray(control.variance) + treatment.variance
    )
    return _comparison(control, treatment, diff, half, p, "two_proportion_z", alpha)


def _comparison(
    control: Estimate, treatment: Estimate, diff: Num, half: Num, p: Num, test: str, alpha: float
) -> Comparison:
    rel, rel_low, rel_high = relative_interval(control, treatment, alpha)
    p = np.where(np.isnan(p), 1.0, p)
    return Comparison(
        control.value, treatment.value, diff, diff - half, diff + half,
        rel, rel_low, rel_high, p if np.ndim(p) else float(p), test,
    )  # fmt: skip


def cuped_theta(y: npt.ArrayLike, x: npt.ArrayLike) -> Num:
    """CUPED coefficient ``cov(y, x) / var(x)`` along the last axis (0 where var(x) = 0)."""
    yv, xv = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    dx = xv - xv.mean(axis=-1, keepdims=True)
    dy = yv - yv.mean(axis=-1, keepdims=True)
    sxx, sxy = (dx * dx).sum(axis=-1), (dx * dy).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _num(np.where(sxx > 0, sxy / sxx, 0.0))


def cuped_adjust(
    y: Sequence[npt.NDArray[np.float64]], x: Sequence[npt.NDArray[np.float64]]
) -> tuple[list[npt.NDArray[np.float64]], Num]:
    """CUPED: per variant ``y - theta (x - mean(x))`` with theta and mean(x) pooled over variants.

    Pooling keeps the adjustment identical across arms, so the difference stays unbiased
    under randomization (Deng et al. 2013). Users run along the last axis of each array.
    Returns the adjusted arrays and theta.
    """
    all_x = np.concatenate(x, axis=-1)
    theta = np.asarray(cuped_theta(np.concatenate(y, axis=-1), all_x))[..., None]
    mean_x = all_x.mean(axis=-1, keepdims=True)
    adjusted = [yi - theta * (xi - mean_x) for yi, xi in zip(y, x, strict=True)]
    return adjusted, _num(theta[..., 0])


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio mismatch: observed and expected users per variant and the chi-square test."""

    observed: dict[str, int]
    expected: dict[str, float]
    statistic: float
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        """True when the split differs from the declared weights (p below the threshold)."""
        return self.p_value < self.threshold


def srm_check(
    observed: dict[str, int], weights: dict[str, float], threshold: float = 0.001
) -> SrmResult:
    """Chi-square goodness of fit of the users per variant against the declared weights.

    Raises:
        ValidationFailedError: when variants and weights do not name the same arms.
    """
    if set(observed) != set(weights):
        raise ValidationFailedError(
            f"SRM check: variants {sorted(observed)} differ from weights {sorted(weights)}"
        )
    names = list(weights)
    total = sum(observed.values())
    w = np.array([weights[k] for k in names], dtype=np.float64)
    expected = total * w / w.sum()
    res = stats.chisquare([observed[k] for k in names], f_exp=expected)
    return SrmResult(
        {k: int(observed[k]) for k in names},
        dict(zip(names, expected.tolist(), strict=True)),
        float(res.statistic), float(res.pvalue), threshold,
    )  # fmt: skip


def holm(p_values: list[float], alpha: float = 0.05) -> list[float]:
    """Holm-adjusted p-values (statsmodels ``multipletests(method="holm")``)."""
    if not p_values:
        return []
    return [float(p) for p in multipletests(p_values, alpha=alpha, method="holm")[1]]


@dataclass(frozen=True)
class Guardrail:
    """A guardrail: which direction is better and how much relative harm is tolerated.

    ``tolerance=0.02`` with ``better="higher"`` means the treatment may be at most 2% lower.
    """

    better: Literal["higher", "lower"] = "higher"
    tolerance: float = 0.0


def guardrail_verdict(comparison: Comparison, guardrail: Guardrail) -> Verdict:
    """Non-inferiority on the relative interval: pass, fail or inconclusive.

    pass: the whole interval is on the allowed side of the tolerance; fail: the whole interval
    is beyond it; inconclusive otherwise (or when the interval is undefined).
    """
    low, high = float(comparison.rel_low), float(comparison.rel_high)
    if np.isnan(low) or np.isnan(high):
        return "inconclusive"
    if guardrail.better == "lower":
        low, high = -high, -low
    if low > -guardrail.tolerance:
        return "pass"
    if high < -guardrail.tolerance:
        return "fail"
    return "inconclusive"
