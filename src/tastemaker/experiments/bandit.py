"""Thompson sampling on a conversion metric: Beta-Bernoulli allocation and its history.

Each arm's conversion rate has the posterior ``Beta(a + successes, b + failures)``; an arm is
served with the probability that it is the best (Thompson 1933; Chapelle & Li 2011). For two
arms that probability is exact (Miller's closed form for ``P(X_B > X_A)`` with integer
parameters); for more arms it is estimated by Monte-Carlo draws from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import betaln

from tastemaker.errors import ValidationFailedError


def prob_b_beats_a(a_alpha: int, a_beta: int, b_alpha: int, b_beta: int) -> float:
    """Exact ``P(X_B > X_A)`` for ``X_A ~ Beta(a_alpha, a_beta)``, ``X_B ~ Beta(b_alpha, b_beta)``.

    ``sum_{i<b_alpha} B(a_alpha + i, a_beta + b_beta) / ((b_beta + i) B(1 + i, b_beta)
    B(a_alpha, a_beta))``, in logs; integer parameters (counts plus an integer prior).
    """
    i = np.arange(b_alpha, dtype=np.float64)
    log_terms = (betaln(a_alpha + i, a_beta + b_beta) - np.log(b_beta + i)
                 - betaln(1 + i, b_beta) - betaln(a_alpha, a_beta))  # fmt: skip
    return float(np.exp(log_terms).sum())


def thompson_probabilities(
    successes: Sequence[int],
    trials: Sequence[int],
    *,
    prior: tuple[int, int] = (1, 1),
    draws: int = 20_000,
    seed: int = 0,
) -> npt.NDArray[np.float64]:
    """Probability that each arm has the highest conversion rate under its Beta posterior.

    Args:
        successes: conversions per arm.
        trials: users (or impressions) per arm.
        prior: integer Beta prior ``(a, b)`` shared by all arms.
        draws: Monte-Carlo draws when there are more than two arms.
        seed: seed of the generator for those draws.

    Raises:
        ValidationFailedError: on fewer than 2 arms or successes outside [0, trials].
    """
    s = np.asarray(successes, dtype=np.int64)
    n = np.asarray(trials, dtype=np.int64)
    if s.size < 2 or s.shape != n.shape or (s < 0).any() or (s > n).any():
        raise ValidationFailedError(f"bandit: bad successes {s.tolist()} / trials {n.tolist()}")
    alpha, beta = s + prior[0], n - s + prior[1]
    if s.size == 2:
        p1 = prob_b_beats_a(int(alpha[0]), int(beta[0]), int(alpha[1]), int(beta[1]))
        return np.array([1.0 - p1, p1])
    samples = np.random.default_rng(seed).beta(alpha, beta, size=(draws, s.size))
    return np.bincount(samples.argmax(axis=1), minlength=s.size) / draws


@dataclass(frozen=True)
class AllocationStep:
    """One re-allocation: when, the counts it saw and the traffic shares it set."""

    at: datetime
    successes: tuple[int, ...]
    trials: tuple[int, ...]
    allocation: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (time as ISO 8601)."""
        return {"at": self.at.isoformat(), "successes": list(self.successes),
                "trials": list(self.trials), "allocation": list(self.allocation)}  # fmt: skip


@dataclass(frozen=True)
class AllocationHistory:
    """The arms and every allocation step, oldest first; ``record`` returns a new history."""

    arms: tuple[str, ...]
    floor: float = 0.0
    steps: tuple[AllocationStep, ...] = field(default=())

    def record(
        self, at: datetime, successes: Sequence[int], trials: Sequence[int], seed: int = 0
    ) -> AllocationHistory:
        """Compute the Thompson allocation for these counts and append it as a new step.

        Each arm keeps at least ``floor`` of the traffic (then shares are renormalized), so
        no arm starves while its estimate is still noisy.
        """
        if len(successes) != len(self.arms):
            raise ValidationFailedError(f"bandit: {len(successes)} counts for arms {self.arms}")
        p = np.maximum(thompson_probabilities(successes, trials, seed=seed), self.floor)
        step = AllocationStep(at, tuple(int(x) for x in successes), tuple(int(x) for x in trials),
                              tuple(float(x) for x in p / p.sum()))  # fmt: skip
        return AllocationHistory(self.arms, self.floor, (*self.steps, step))

    @property
    def current(self) -> dict[str, float]:
        """The latest allocation per arm (equal shares before the first step)."""
        if not self.steps:
            return {a: 1.0 / len(self.arms) for a in self.arms}
        return dict(zip(self.arms, self.steps[-1].allocation, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready history."""
        return {"arms": list(self.arms), "floor": self.floor,
                "steps": [s.to_dict() for s in self.steps]}  # fmt: skip
