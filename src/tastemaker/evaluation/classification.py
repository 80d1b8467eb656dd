"""Metrics of probability predictions for a binary outcome (purchase propensity).

Discrimination (ROC AUC with a bootstrap interval over users, PR AUC, lift in the top
decile), probability quality (log loss, Brier score, expected calibration error) and a
reliability table. Rows of one user are not independent (one user has a row per item and
cutoff), so the interval resamples users, not rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per bin of about equal row counts (deciles of the predicted probability by default):
    the probability range, mean predicted, observed rate and row count.

    Equal predictions always share a bin, so the table does not depend on row order (a
    constant prediction is one bin).
    """
    if len(p) == 0:
        return []
    n_bins = min(bins, len(p))
    # rank "min": tied rows get the same rank, hence the same bin
    which = (rankdata(p, method="min").astype(np.int64) - 1) * n_bins // len(p)
    rows = []
    for b in np.unique(which):
        chunk = which == b
        rows.append(
            {
                "low": float(p[chunk].min()),
                "high": float(p[chunk].max()),
                "predicted": float(p[chunk].mean()),
                "observed": float(y[chunk].mean()),
                "n": int(chunk.sum()),
            }
        )
    return rows


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |predicted - observed| over the reliability bins (equal counts)."""
    table = reliability(y, p, bins)
    return float(sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in table) / max(len(y), 1))


def lift_at(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> float:
    """Purchase rate among the top ``share`` of rows by probability, over the overall rate.

    Rows tied at the cut count by their mean (the expectation over any order of the ties), so
    a constant prediction has a lift of exactly 1.
    """
    base = float(np.mean(y)) if len(y) else 0.0
    if base == 0.0:
        return float("nan")
    top = max(1, round(len(p) * share))
    cut = np.sort(p)[::-1][top - 1]
    above = p > cut
    tied = p == cut
    bought = float(y[above].sum()) + (top - int(above.sum())) * float(y[tied].mean())
    return bought / top / base


def auc_interval(
    y: np.ndarray,
    p: np.ndarray,
    groups: np.ndarray,
    *,
    n_resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC, resampling whole groups (users)."""
    _, codes = np.unique(groups, return_inverse=True)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_resamples):
        weights = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)[codes]
        keep = weights > 0
        if len(np.unique(y[keep])) < 2:
            continue
        stats.append(roc_auc_score(y[keep], p[keep], sample_weight=weights[keep]))
    if not stats:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return float(low), float(high)


def classification_metrics(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray | None = None, *, seed: int = 0
) -> dict[str, Any]:
    """All metrics of one set of predictions (``groups``: user of each row, for the interval).

    Returns a flat dict: rows, positives, base_rate, auc (+ auc_low / auc_high with
    groups), pr_auc, log_loss, brier, ece, lift@10%.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    out: dict[str, Any] = {
        "rows": len(y),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
    }
    if len(np.unique(y)) < 2:
        return out
    out["auc"] = float(roc_auc_score(y, p))
    if groups is not None:
        out["auc_low"], out["auc_high"] = auc_interval(y, p, groups, seed=seed)
    out["pr_auc"] = float(average_precision_score(y, p))
    out["log_loss"] = float(log_loss(y, p))
    out["brier"] = float(brier_score_loss(y, p))
    out["ece"] = expected_calibration_error(y, p)
    out["lift@10%"] = lift_at(y, p, 0.1)
    return out
