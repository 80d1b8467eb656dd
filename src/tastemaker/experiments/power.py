"""Power: users needed per variant, and how many days of traffic that takes.

Conventions are statsmodels': the test is the two-sided normal (z) test of
``NormalIndPower`` / ``zt_ind_solve_power``, including the far tail, with ``ratio`` =
users in treatment / users in control.

- Conversion: ``mde`` is an **absolute** change of the baseline rate (0.05 -> 0.07 is
  ``mde=0.02``); the effect size is Cohen's h, ``proportion_effectsize(baseline + mde,
  baseline) = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``.
- A mean: the effect size is ``mde / sd`` (Cohen's d with a known standard deviation).

Power at n users per arm is ``Phi(|h| sqrt(n r / (1 + r)) - z) + Phi(-|h| sqrt(n r /
(1 + r)) - z)`` with ``z = Phi^-1(1 - alpha / 2)``; statsmodels solves it for n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from tastemaker.errors import ValidationFailedError


@dataclass(frozen=True)
class SampleSize:
    """Users needed per variant: the exact solution and the control / treatment counts."""

    effect_size: float
    exact: float
    control: int
    treatment: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready fields."""
        return {"effect_size": self.effect_size, "exact": self.exact,
                "control": self.control, "treatment": self.treatment}  # fmt: skip


def _solve(effect: float, alpha: float, power: float, ratio: float) -> SampleSize:
    if not (0 < alpha < 1 and 0 < power < 1) or effect == 0 or ratio <= 0:
        raise ValidationFailedError(
            f"power: need 0 < alpha, power < 1, a non-zero effect and ratio > 0 "
            f"(alpha={alpha}, power={power}, effect={effect}, ratio={ratio})"
        )
    n1 = float(NormalIndPower().solve_power(effect_size=abs(effect), alpha=alpha, power=power,
                                            ratio=ratio, alternative="two-sided"))  # fmt: skip
    return SampleSize(effect, n1, math.ceil(n1), math.ceil(n1 * ratio))


def sample_size(
    baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    """Users per variant to detect an absolute change ``mde`` of a conversion rate ``baseline``.

    Raises:
        ValidationFailedError: when the rates leave (0, 1) or alpha / power are not in (0, 1).
    """
    if not (0 < baseline < 1 and 0 < baseline + mde < 1):
        raise ValidationFailedError(
            f"power: baseline {baseline} and baseline + mde {baseline + mde} must be in (0, 1)"
        )
    return _solve(float(proportion_effectsize(baseline + mde, baseline)), alpha, power, ratio)


def sample_size_means(
    mde: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    """Users per variant to detect a difference ``mde`` of a mean with per-user std ``sd``."""
    if sd <= 0:
        raise ValidationFailedError(f"power: the standard deviation must be positive, got {sd}")
    return _solve(mde / sd, alpha, power, ratio)


def runtime_days(
    size: SampleSize, users_per_day: float, weights: Sequence[float] = (0.5, 0.5)
) -> int:
    """Days of traffic until control (weights[0]) and every treatment reach their sample size.

    Args:
        size: the users needed per variant.
        users_per_day: new users entering the experiment per day (after any traffic share).
        weights: the declared split, control first.
    """
    if users_per_day <= 0 or len(weights) < 2 or min(weights) <= 0:
        raise ValidationFailedError(
            f"runtime: users_per_day {users_per_day} and every weight {list(weights)} must be > 0"
        )
    total = sum(weights)
    needs = [size.control / (users_per_day * weights[0] / total)]
    needs += [size.treatment / (users_per_day * w / total) for w in weights[1:]]
    return math.ceil(max(needs))
