"""One experiment's analysis: every metric of every treatment against control.

:func:`analyze` takes per-user values per variant (from :mod:`.metrics` or anywhere else)
and returns an :class:`AnalysisResult`: per metric and treatment the values, the absolute and
relative differences with intervals, the p-value of the test that fits the metric (two-
proportion z for a rate, Welch t for a mean or a CUPED-adjusted value, delta-method z for a
ratio), Holm-adjusted p-values across secondary metrics, guardrail verdicts, the always-valid
sequential p-value, and the sample-ratio-mismatch check that marks the whole result
untrustworthy when it fails.

A metric with no data in the window (no user has a matching event, a ratio without any
denominator event in an arm, an arm with fewer than 2 users) does not stop the analysis: its
rows carry null values and intervals and a ``note`` saying why.

With CUPED, the reported variant values are the raw means; the differences, their intervals
and the p-value are those of the CUPED-adjusted values (same expectation, smaller variance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tastemaker.errors import ValidationFailedError
from tastemaker.experiments.metrics import MetricKind, MetricSpec, by_variant
from tastemaker.experiments.sequential import always_valid_p_value, confidence_radius
from tastemaker.experiments.stats import (
    Comparison,
    Estimate,
    Guardrail,
    SrmResult,
    Verdict,
    cuped_adjust,
    guardrail_verdict,
    holm,
    mean_estimate,
    ratio_estimate,
    srm_check,
    two_proportion_test,
    welch_test,
    z_test,
)

Role = Literal["primary", "secondary", "guardrail"]
Values = Mapping[str, npt.ArrayLike]


@dataclass(frozen=True)
class MetricInput:
    """One metric's per-user values per variant, its kind and its role in the decision.

    ``denominators`` is required for a ratio metric; ``pre_values`` (the same metric over the
    pre-period) turns on CUPED for a proportion or a mean; ``guardrail`` for role guardrail.
    """

    name: str
    kind: MetricKind
    values: Values
    role: Role = "secondary"
    denominators: Values | None = None
    pre_values: Values | None = None
    guardrail: Guardrail | None = None


@dataclass(frozen=True)
class MetricResult:
    """One metric, one treatment against control."""

    metric: str
    role: Role
    variant: str
    comparison: Comparison
    cuped: bool
    sequential_p: float
    holm_p: float | None = None
    verdict: Verdict | None = None
    sequential_ci: tuple[float, float] = (math.nan, math.nan)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (NaN as null)."""
        c = self.comparison
        return {
            "metric": self.metric, "role": self.role, "variant": self.variant,
            "control_value": _f(c.control), "value": _f(c.treatment),
            "abs_diff": _f(c.abs_diff), "abs_ci": [_f(c.abs_low), _f(c.abs_high)],
            "rel_diff": _f(c.rel_diff), "rel_ci": [_f(c.rel_low), _f(c.rel_high)],
            "p_value": _f(c.p_value), "test": c.test, "cuped": self.cuped,
            "holm_p": self.holm_p, "guardrail": self.verdict,
            "sequential_p": _f(self.sequential_p),
            "sequential_ci": [_f(self.sequential_ci[0]), _f(self.sequential_ci[1])],
            "note": self.note,
        }  # fmt: skip


@dataclass(frozen=True)
class AnalysisResult:
    """Every metric result plus the SRM check; untrustworthy when the split is off."""

    control: str
    alpha: float
    srm: SrmResult
    results: tuple[MetricResult, ...]

    @property
    def trustworthy(self) -> bool:
        """False when the sample-ratio-mismatch check failed: no result should be read."""
        return not self.srm.mismatch

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result."""
        s = self.srm
        return {
            "control": self.control, "alpha": self.alpha, "trustworthy": self.trustworthy,
            "srm": {"observed": s.observed, "expected": s.expected, "statistic": s.statistic,
                    "p_value": s.p_value, "threshold": s.threshold, "mismatch": s.mismatch},
            "results": [r.to_dict() for r in self.results],
        }  # fmt: skip


def metric_input(
    spec: MetricSpec,
    frame: pl.DataFrame,
    role: Role = "secondary",
    guardrail: Guardrail | None = None,
) -> MetricInput:
    """The :class:`MetricInput` of a metric from its :func:`.metrics.metric_values` frame.

    The pre-period column becomes ``pre_values`` (CUPED) for a proportion or a mean.
    """
    ratio = spec.kind == "ratio"
    return MetricInput(
        spec.name, spec.kind, by_variant(frame, "value"), role,
        denominators=by_variant(frame, "denominator") if ratio else None,
        pre_values=None if ratio else by_variant(frame, "pre_value"), guardrail=guardrail,
    )  # fmt: skip


def _f(x: float | npt.NDArray[np.float64]) -> float | None:
    v = float(x)
    return None if math.isnan(v) else v


def _arr(values: Values, variant: str) -> npt.NDArray[np.float64]:
    return np.asarray(values[variant], dtype=np.float64)


def _estimates(
    metric: MetricInput, control: str, variant: str, cuped: bool, alpha: float
) -> tuple[Estimate, Estimate, Comparison, bool]:
    """The two estimates and the comparison of the test that fits the metric."""
    c, t = _arr(metric.values, control), _arr(metric.values, variant)
    if metric.kind == "ratio":
        if metric.denominators is None:
            raise ValidationFailedError(f"metric '{metric.name}': a ratio needs denominators")
        ec = ratio_estimate(c, _arr(metric.denominators, control))
        et = ratio_estimate(t, _arr(metric.denominators, variant))
        return ec, et, z_test(ec, et, alpha), False
    pre = metric.pre_values
    if cuped and pre is not None and np.concatenate([_arr(pre, k) for k in pre]).var() > 0:
        names = list(metric.values)
        adjusted, _ = cuped_adjust([_arr(metric.values, k) for k in names],
                                   [_arr(pre, k) for k in names])  # fmt: skip
        by_name = dict(zip(names, adjusted, strict=True))
        ec, et = mean_estimate(by_name[control]), mean_estimate(by_name[variant])
        # the values stay the raw means; differences, intervals and p come from adjusted ones
        adjusted_test = welch_test(ec, et, alpha)
        return ec, et, replace(adjusted_test, control=c.mean(), treatment=t.mean()), True
    ec, et = mean_estimate(c), mean_estimate(t)
    if metric.kind == "proportion":
        return ec, et, two_proportion_test(c.sum(), c.size, t.sum(), t.size, alpha), False
    return ec, et, welch_test(ec, et, alpha), False


def _sequential(
    ec: Estimate, et: Estimate, diff: float, relative_tau: float, alpha: float
) -> tuple[float, tuple[float, float]]:
    """The always-valid p-value and the (1 - alpha) confidence sequence at this look."""
    # tau: the effect the test is tuned for, relative to control; per-user sd if control is 0
    scale = abs(float(ec.value)) or math.sqrt(float(ec.variance) * float(ec.n))
    tau = relative_tau * scale if scale > 0 else 1.0
    variance = float(ec.variance) + float(et.variance)
    radius = float(confidence_radius(variance, tau, alpha))
    return float(always_valid_p_value(diff, variance, tau)), (diff - radius, diff + radius)


def _no_data(metric: MetricInput, control: str, variant: str) -> str | None:
    """Why ``metric`` cannot be compared between the two arms (None: it can)."""
    for arm in (control, variant):
        users = np.size(metric.values.get(arm, ()))
        if users < 2:
            return f"'{arm}' has {users} user(s) here; at least 2 are needed"
    if metric.kind == "ratio" and metric.denominators is not None:
        empty = [a for a in (control, variant) if not _arr(metric.denominators, a).any()]
        if empty:
            return f"no denominator events in the window for {', '.join(empty)}"
    elif not any(_arr(metric.values, a).any() for a in metric.values):
        return "no events of this metric in the window (every user's value is 0)"
    return None


def _empty(metric: MetricInput, variant: str, note: str) -> MetricResult:
    """A row without values: the metric has no data to compare."""
    nan = math.nan
    comparison = Comparison(nan, nan, nan, nan, nan, nan, nan, nan, nan, "none")
    verdict: Verdict | None = "inconclusive" if metric.role == "guardrail" else None
    return MetricResult(metric.name, metric.role, variant, comparison, False, nan,
                        verdict=verdict, note=note)  # fmt: skip


def _observed(metrics: Sequence[MetricInput]) -> dict[str, int]:
    counts = [{k: int(np.size(v)) for k, v in m.values.items()} for m in metrics]
    if any(c != counts[0] for c in counts):
        raise ValidationFailedError("analysis: metrics disagree on the users per variant")
    return counts[0]


def analyze(
    metrics: Sequence[MetricInput],
    weights: Mapping[str, float],
    control: str,
    *,
    alpha: float = 0.05,
    srm_threshold: float = 0.001,
    cuped: bool = True,
    sequential_tau: float = 0.05,
) -> AnalysisResult:
    """Analyze an experiment: each metric, each treatment against ``control``.

    Args:
        metrics: per-user values per variant for every metric (all over the same users).
        weights: the declared split per variant (any scale).
        control: the control variant's name.
        alpha: level of the intervals and of Holm's correction.
        srm_threshold: the SRM chi-square p-value below which the result is untrustworthy.
        cuped: adjust proportions and means by their pre-period values when given.
        sequential_tau: the mixing sd of the sequential test, relative to the control value.

    Raises:
        ValidationFailedError: on no metrics, an unknown control, or inconsistent inputs.
    """
    if not metrics or control not in weights:
        raise ValidationFailedError(f"analysis: need metrics and a control among {list(weights)}")
    observed = _observed(metrics)
    srm = srm_check({k: observed.get(k, 0) for k in weights} | observed, dict(weights),
                    srm_threshold)  # fmt: skip
    results = []
    for metric in metrics:
        for variant in (v for v in weights if v != control):
            note = _no_data(metric, control, variant)
            if note is not None:
                results.append(_empty(metric, variant, note))
                continue
            ec, et, comparison, used = _estimates(metric, control, variant, cuped, alpha)
            seq, cs = _sequential(ec, et, float(comparison.abs_diff), sequential_tau, alpha)
            verdict = (guardrail_verdict(comparison, metric.guardrail)
                       if metric.role == "guardrail" and metric.guardrail else None)  # fmt: skip
            results.append(MetricResult(metric.name, metric.role, variant, comparison, used,
                                        seq, verdict=verdict, sequential_ci=cs))  # fmt: skip
    return AnalysisResult(control, alpha, srm, _holm(results, alpha))


def _holm(results: list[MetricResult], alpha: float) -> tuple[MetricResult, ...]:
    secondary = [i for i, r in enumerate(results) if r.role == "secondary" and r.note is None]
    adjusted = holm([float(results[i].comparison.p_value) for i in secondary], alpha)
    out = list(results)
    for i, p in zip(secondary, adjusted, strict=True):
        out[i] = replace(out[i], holm_p=p)
    return tuple(out)
