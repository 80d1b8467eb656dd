"""Always-valid inference: the mixture SPRT p-value and confidence sequence.

For a difference of means ``d`` with sampling variance ``V`` (normal approximation, the
variance estimated from the data at each look) and a normal mixing distribution
``theta ~ N(0, tau^2)`` over the effect, the mixture likelihood ratio against ``theta = 0`` is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

(Johari, Koomen, Pekelis & Walsh 2022, "Always valid inference: continuous monitoring of
A/B tests", Operations Research, eq. for the normal mSPRT; Howard, Ramdas, McAuliffe &
Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences", the normal
mixture boundary). Under the null, ``Lambda`` is a nonnegative martingale, so by Ville's
inequality ``P(exists n: Lambda_n >= 1/alpha) <= alpha``: the p-value ``min(1, 1/Lambda)``
may be read after every look. Inverting the test gives the confidence sequence

    d +- sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + log((V + tau^2) / V) / 2)).

Over a series of looks the p-value is the running minimum and the interval the running
intersection. ``tau`` is the effect size the test is tuned to detect fastest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tastemaker.experiments.stats import Num


def mixture_likelihood_ratio(diff: Num, variance: Num, tau: float) -> Num:
    """The normal mSPRT statistic ``Lambda`` of a difference ``diff`` with variance ``variance``."""
    v = np.asarray(variance, dtype=np.float64)
    t2 = tau**2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_lr = 0.5 * np.log(v / (v + t2)) + t2 * np.asarray(diff) ** 2 / (2 * v * (v + t2))
    return np.exp(np.where(np.isnan(log_lr), 0.0, log_lr))


def always_valid_p_value(diff: Num, variance: Num, tau: float) -> Num:
    """``min(1, 1 / Lambda)`` at one look: valid however often the experiment is looked at."""
    return np.minimum(1.0, 1.0 / mixture_likelihood_ratio(diff, variance, tau))


def confidence_radius(variance: Num, tau: float, alpha: float = 0.05) -> Num:
    """Half-width of the (1 - alpha) confidence sequence at one look (nan where the variance
    is 0: nothing is known yet at that look)."""
    v = np.asarray(variance, dtype=np.float64)
    t2 = tau**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(2 * v * (v + t2) / t2 * (np.log(1 / alpha) + 0.5 * np.log((v + t2) / v)))


@dataclass(frozen=True)
class SequentialPath:
    """The always-valid p-value and interval after each look (last axis = looks)."""

    p_values: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]


def sequential_path(
    diffs: npt.ArrayLike, variances: npt.ArrayLike, tau: float, alpha: float = 0.05
) -> SequentialPath:
    """The p-value (running minimum) and confidence sequence (running intersection) over looks.

    Args:
        diffs: the difference (treatment - control) at each look; the last axis is time,
            leading axes are independent experiments.
        variances: the sampling variance of each difference.
        tau: standard deviation of the normal mixing distribution over effects.
        alpha: error rate of the confidence sequence.

    Returns:
        A :class:`SequentialPath` with arrays shaped like ``diffs``.
    """
    d = np.asarray(diffs, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    p = np.minimum.accumulate(always_valid_p_value(d, v, tau), axis=-1)
    r = confidence_radius(v, tau, alpha)
    low = np.maximum.accumulate(np.nan_to_num(d - r, nan=-np.inf), axis=-1)
    high = np.minimum.accumulate(np.nan_to_num(d + r, nan=np.inf), axis=-1)
    return SequentialPath(p, low, high)
