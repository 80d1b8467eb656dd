"""The drift statistics of one feature against its reference (scipy for the tests).

A numeric feature gets the population stability index over the reference's quantile bins
and the two-sample Kolmogorov-Smirnov test against the reference's sample; a categorical
one gets the index over its categories and the chi-square goodness-of-fit test against
the reference shares. A feature has drifted when the test rejects *and* the index reaches
its threshold: with a day of traffic a test rejects for differences too small to matter,
and the index alone says nothing about chance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
from scipy import stats

from tastemaker.config import MonitoringConfig
from tastemaker.monitoring.reference import (
    CategoricalReference,
    NumericReference,
    category_counts,
)

#: Shares are clipped to this before the logarithm of the stability index.
_EPSILON = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison of served traffic with the reference."""

    feature: str
    kind: str  # numeric | categorical
    test: str  # ks | chi2
    n: int
    psi: float
    statistic: float
    p_value: float
    drifted: bool
    reference_mean: float | None = None
    current_mean: float | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (NaN as None)."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share (or count) vectors over the same bins.

    ``sum((c - r) * ln(c / r))`` with both normalized to shares and clipped at 1e-4.
    """
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if r.sum() <= 0 or c.sum() <= 0:
        return float("nan")
    r = np.clip(r / r.sum(), _EPSILON, None)
    c = np.clip(c / c.sum(), _EPSILON, None)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_drift(
    name: str, ref: NumericReference, values: np.ndarray, cfg: MonitoringConfig
) -> FeatureDrift:
    """PSI over the reference bins and the KS test against the reference sample."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0 or not ref.sample:
        return FeatureDrift(name, "numeric", "ks", len(x), float("nan"), float("nan"), 1.0,
                            False, ref.mean, float(x.mean()) if len(x) else None)  # fmt: skip
    index = psi(np.asarray(ref.shares), ref.bin_counts(x))
    ks = stats.ks_2samp(np.asarray(ref.sample), x)
    p = float(ks.pvalue)
    drifted = index >= cfg.psi_threshold and p < cfg.ks_p_threshold
    return FeatureDrift(name, "numeric", "ks", len(x), index, float(ks.statistic), p, drifted,
                        ref.mean, float(x.mean()))  # fmt: skip


#: A category whose expected count on either side is below this joins "(other)": the
#: chi-square approximation needs it, and rare categories inflate the PSI by sampling alone.
MIN_EXPECTED = 5.0
OTHER = "(other)"


def pooled_counts(ref: dict[str, float], cur: dict[str, float]) -> tuple[list[str], np.ndarray]:
    """The 2 x K table of reference and current counts over the categories of both sides,
    with each category too rare for the test on either side merged into ``(other)``."""
    names = sorted(set(ref) | set(cur))
    table = np.array([[ref.get(k, 0.0) for k in names], [cur.get(k, 0.0) for k in names]])
    totals = table.sum(axis=1, keepdims=True)
    expected = table.sum(axis=0) / table.sum() * totals  # per side, if nothing changed
    keep = (expected >= MIN_EXPECTED).all(axis=0)
    kept = [k for k, ok in zip(names, keep, strict=True) if ok]
    if (~keep).any():
        table = np.column_stack([table[:, keep], table[:, ~keep].sum(axis=1)])
        kept.append(OTHER)
    return kept, table


def categorical_drift(
    name: str,
    ref: CategoricalReference,
    values: pl.Series,
    cfg: MonitoringConfig,
    weights: pl.Series | None = None,
) -> FeatureDrift:
    """PSI over the categories and the chi-square test of the reference counts against the
    served counts (two samples: the reference is a sample too, not exact shares).

    Categories too rare on either side for the test are pooled first (see
    :func:`pooled_counts`), for the test and the PSI alike. Null values are left out; with
    ``weights`` a row counts its weight (engaged features: each user weighs 1 in all, so
    the test's unit is the user, whose engagements are not independent of each other), and
    ``n`` is still the number of rows compared.
    """
    seen = category_counts(values, weights)
    n = int(values.drop_nulls().len())
    if n == 0 or ref.count == 0:
        return FeatureDrift(name, "categorical", "chi2", n, float("nan"), float("nan"), 1.0, False)
    _, table = pooled_counts({k: v * ref.count for k, v in ref.shares.items()}, seen)
    index = psi(table[0], table[1])
    if table.shape[1] < 2:  # one category (or everything rare): nothing to compare
        return FeatureDrift(name, "categorical", "chi2", n, index, 0.0, 1.0, False)
    chi = stats.chi2_contingency(table, correction=False)
    p = float(chi.pvalue)
    drifted = index >= cfg.psi_threshold and p < cfg.chi2_p_threshold
    return FeatureDrift(name, "categorical", "chi2", n, index, float(chi.statistic), p, drifted)
