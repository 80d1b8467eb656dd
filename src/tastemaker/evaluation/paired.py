"""Paired comparisons over users: which model is best, which are tied, which lose to popularity.

For a per-user metric, every model is compared with the model ranked first by a paired
test on the per-user differences: the mean difference, a 95% paired bootstrap interval of
it (``scipy.stats.bootstrap``) and the two-sided Wilcoxon signed-rank p-value
(``scipy.stats.wilcoxon``). The first model is marked ``best`` only if it differs
significantly (p < ALPHA) from every other model; models not significantly different from
the first are ``tied``. Catalog-wide metrics (coverage, Gini) have no per-user values: there
the first is ``best`` only when its interval is disjoint from every other model's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from tastemaker.evaluation.metrics import Estimate

ALPHA = 0.05
LOWER_IS_BETTER = frozenset({"gini"})
"""Metrics where a smaller value is better (Gini: inequality of exposure across items)."""


@dataclass(frozen=True)
class Comparison:
    """One model against the first-ranked model for one metric at one K."""

    diff: float
    low: float
    high: float
    p_value: float
    status: str  # "best", "tied", "below"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "diff": self.diff,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "status": self.status,
        }


def paired_test(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float, float]:
    """Mean of ``a - b`` over users, its paired bootstrap 95% interval and Wilcoxon p-value."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean = float(d.mean()) if len(d) else 0.0
    if len(d) < 2 or not np.any(d):
        return mean, mean, mean, 1.0
    ci = stats.bootstrap(
        (d,), np.mean, n_resamples=max(n_resamples, 50), method="percentile",
        random_state=np.random.default_rng(seed),
    ).confidence_interval  # fmt: skip
    p = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
    return mean, float(ci.low), float(ci.high), p


def _ranked(values: Mapping[str, float], metric: str) -> list[str]:
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    return sorted(values, key=lambda name: sign * values[name])


def compare_per_user(
    per_user: Mapping[str, np.ndarray], metric: str, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Comparison]:
    """Compare every model's per-user values with the first-ranked model's (paired)."""
    means = {name: float(np.mean(v)) if len(v) else 0.0 for name, v in per_user.items()}
    order = _ranked(means, metric)
    top = order[0]
    out: dict[str, Comparison] = {}
    for name in order[1:]:
        diff, low, high, p = paired_test(
            per_user[name], per_user[top], n_resamples=n_resamples, seed=seed
        )
        out[name] = Comparison(diff, low, high, p, "below" if p < ALPHA else "tied")
    clear = all(c.status == "below" for c in out.values())
    out[top] = Comparison(0.0, 0.0, 0.0, 1.0, "best" if clear else "tied")
    return {name: out[name] for name in per_user}


def compare_global(estimates: Mapping[str, Estimate], metric: str) -> dict[str, Comparison]:
    """Rank catalog-wide metrics; ``best`` only when the top interval is disjoint from all."""
    order = _ranked({n: e.mean for n, e in estimates.items()}, metric)
    top = estimates[order[0]]
    out: dict[str, Comparison] = {}
    for name in order[1:]:
        e = estimates[name]
        apart = e.high < top.low or e.low > top.high
        out[name] = Comparison(e.mean - top.mean, float("nan"), float("nan"), float("nan"),
                               "below" if apart else "tied")  # fmt: skip
    clear = all(c.status == "below" for c in out.values())
    out[order[0]] = Comparison(0.0, 0.0, 0.0, float("nan"), "best" if clear else "tied")
    return {name: out[name] for name in estimates}


def loses_to_popularity(
    per_user: Mapping[str, np.ndarray], *, n_resamples: int = 1000, seed: int = 0
) -> list[str]:
    """Models whose per-user values are significantly below the ``popularity`` model's."""
    if "popularity" not in per_user:
        return []
    base = per_user["popularity"]
    losers = []
    for name, values in per_user.items():
        if name == "popularity":
            continue
        diff, _, _, p = paired_test(values, base, n_resamples=n_resamples, seed=seed)
        if diff < 0 and p < ALPHA:
            losers.append(name)
    return losers


def compare_all(
    per_user: Mapping[str, Mapping[tuple[str, int], np.ndarray]],
    estimates: Mapping[str, Mapping[str, Mapping[int, Estimate]]],
    ks: Sequence[int],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, dict[int, dict[str, Comparison]]], dict[int, list[str]]]:
    """Comparisons ``[metric][k][model]`` for every metric, and NDCG losers to popularity per K.

    ``per_user[model][(metric, k)]`` are per-user values; ``estimates[model][metric][k]``
    the estimates (used for catalog-wide metrics that have no per-user values).
    """
    names = list(estimates)
    metrics = list(next(iter(estimates.values()))) if names else []
    out: dict[str, dict[int, dict[str, Comparison]]] = {}
    for metric in metrics:
        out[metric] = {}
        for k in ks:
            if all((metric, k) in per_user[n] for n in names):
                vectors = {n: per_user[n][(metric, k)] for n in names}
                out[metric][k] = compare_per_user(
                    vectors, metric, n_resamples=n_resamples, seed=seed
                )
            else:
                out[metric][k] = compare_global({n: estimates[n][metric][k] for n in names}, metric)
    losers = {
        k: loses_to_popularity(
            {n: per_user[n][("ndcg", k)] for n in names}, n_resamples=n_resamples, seed=seed
        )
        for k in ks
    }
    return out, losers
