"""The promotion guard: a candidate version against the live one on the freshest events.

The holdout is the last ``holdout_days`` of events before ``now``; it was not used to train
the candidate. Both versions recommend for every holdout user who has a history before the
holdout and at least one new relevant item in it, from that history (the model's own
``recommend_from_history``: the scoring serving calls per candidate list, checked equal by
the model contract tests), and each list is scored with the evaluation metrics
(:func:`tastemaker.evaluation.metrics.accuracy_at_k`). Items are compared by id, so a
version that does not know an item that users took up in the holdout is not excused.

The verdict is a non-inferiority test on the per-user differences (candidate minus live):
PROMOTE when the lower end of their paired bootstrap 95% interval
(:func:`tastemaker.evaluation.paired.paired_test`) lies above ``-margin``; otherwise KEEP.
The one-sided paired t-test of the same hypothesis (``scipy.stats.ttest_rel``) is reported
beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy import stats

from tastemaker.config import RetrainingConfig
from tastemaker.evaluation.metrics import accuracy_at_k
from tastemaker.evaluation.paired import paired_test
from tastemaker.models.base import Recommender
from tastemaker.models.interactions import Interactions
from tastemaker.models.vocab import Vocabulary
from tastemaker.registry.manifest import Manifest

Verdict = Literal["PROMOTE", "KEEP"]


@dataclass(frozen=True)
class HoldoutPeriod:
    """Events before the holdout (histories) and in it (what users took up).

    Attributes:
        start: first instant of the holdout (UTC).
        end: the end of the holdout, exclusive (``now``).
        history: events strictly before ``start``.
        events: events in ``[start, end)``.
    """

    start: datetime
    end: datetime
    history: pl.DataFrame
    events: pl.DataFrame


def holdout_period(events: pl.DataFrame, now: datetime, days: float) -> HoldoutPeriod:
    """Cut ``events`` at ``now - days``: the history before, the holdout up to ``now``."""
    start = now - timedelta(days=days)
    ts = pl.col("timestamp")
    return HoldoutPeriod(
        start=start,
        end=now,
        history=events.filter(ts < start),
        events=events.filter((ts >= start) & (ts < now)),
    )


def favoured_note(
    what: str, live: str | None, manifest: Manifest | None, period: HoldoutPeriod
) -> list[str]:
    """The caveat of a comparison whose live version (``what``: "version", "propensity
    version") was trained on events inside the holdout: it is favoured; none otherwise."""
    if manifest is None or manifest.data.end_ms <= period.start.timestamp() * 1000:
        return []
    return [
        f"the live {what} {live} was trained on events up to {manifest.data.end}, inside the "
        "holdout: the comparison favours it (a KEEP may be unfair to the candidate)"
    ]


@dataclass(frozen=True)
class HoldoutUsers:
    """The evaluated users of a holdout over one item vocabulary (ids, not indices).

    Attributes:
        users: vocabulary of the holdout's users (rows of ``relevant``).
        items: the common item vocabulary every version's lists are mapped into.
        rows: evaluated users (history before the holdout, a new relevant item in it).
        relevant: CSR ``[len(rows), len(items)]``: items taken up in the holdout and not
            in the user's history.
    """

    users: Vocabulary
    items: Vocabulary
    rows: np.ndarray
    relevant: sp.csr_matrix


def holdout_users(period: HoldoutPeriod, weights: Mapping[str, float]) -> HoldoutUsers:
    """The users a guard evaluates, and their relevant items, for ``period``."""
    ids = pl.concat([period.history["item_id"], period.events["item_id"]]).cast(pl.String)
    items = Vocabulary.from_values(ids)
    test = Interactions.from_events(period.events, weights, items=items)
    past = Interactions.from_events(period.history, weights, users=test.users, items=items)
    seen = past.seen()
    rel = sp.csr_matrix(test.binary() - test.binary().multiply(seen > 0))
    rel.eliminate_zeros()
    has_past = np.diff(past.matrix.indptr) > 0
    rows = np.flatnonzero(has_past & (np.diff(rel.indptr) > 0))
    return HoldoutUsers(test.users, items, rows, sp.csr_matrix(rel[rows]))


def per_user_metric(
    model: Recommender,
    period: HoldoutPeriod,
    users: HoldoutUsers,
    metric: str,
    weights: Mapping[str, float],
) -> np.ndarray:
    """``metric`` (``name@k``) of ``model``'s lists for each evaluated user, from their
    history before the holdout (items they already had are never recommended)."""
    name, k = parse_metric(metric)
    hist = Interactions.from_events(period.history, weights, users=users.users, items=model.items_)
    rows = users.rows
    recs, _ = model.recommend_from_history(
        sp.csr_matrix(hist.matrix[rows]), k, exclude=sp.csr_matrix(hist.seen()[rows])
    )
    to_common = users.items.index(model.items_.ids)
    mapped = np.where(recs >= 0, to_common[np.clip(recs, 0, None)], -1)
    return accuracy_at_k(mapped, users.relevant, k)[name]


def parse_metric(metric: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)`` (the configuration validated the spelling)."""
    name, _, k = metric.partition("@")
    return name, int(k)


@dataclass(frozen=True)
class GuardResult:
    """The verdict and the figures behind it.

    Attributes:
        verdict: ``PROMOTE`` or ``KEEP``.
        reason: one sentence with the figures.
        metric: the primary metric (``ndcg@10``).
        live, candidate: version names (``live`` None when nothing was live).
        users: evaluated holdout users.
        live_value, candidate_value: mean metric of each version over those users.
        diff, low, high: mean of candidate minus live and its paired bootstrap 95% interval.
        margin: the configured non-inferiority margin.
        p_worse: one-sided paired t-test p-value of "the candidate is worse by more than
            the margin" (small: it is not).
        holdout_start, holdout_end: the holdout period (ISO 8601 UTC).
        lower_is_better: the metric is a loss (the propensity model's): the verdict reads
            the upper end of the interval against ``+margin``.
    """

    verdict: Verdict
    reason: str
    metric: str
    live: str | None
    candidate: str
    users: int = 0
    live_value: float = float("nan")
    candidate_value: float = float("nan")
    diff: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    margin: float = 0.0
    p_worse: float = float("nan")
    holdout_start: str = ""
    holdout_end: str = ""
    lower_is_better: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (NaN as None)."""
        return {k: (None if isinstance(v, float) and np.isnan(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


def compare(
    live: Recommender | None,
    candidate: Recommender,
    period: HoldoutPeriod,
    config: RetrainingConfig,
    weights: Mapping[str, float],
    names: tuple[str | None, str],
) -> GuardResult:
    """Decide whether ``candidate`` may replace ``live`` (None: nothing is live: PROMOTE).

    Args:
        live: the live version's model, or None.
        candidate: the candidate's model.
        period: the holdout (not used to train the candidate).
        config: metric, margin, minimum users, bootstrap resamples.
        weights: event weights (what counts as taking an item up).
        names: the version names (live, candidate), for the record.
    """
    base: dict[str, Any] = dict(
        metric=config.metric, live=names[0], candidate=names[1], margin=config.margin,
        holdout_start=period.start.isoformat(), holdout_end=period.end.isoformat(),
    )  # fmt: skip
    if live is None:
        return GuardResult("PROMOTE", "no version is live: the candidate goes live", **base)
    users = holdout_users(period, weights)
    n = len(users.rows)
    if n < config.min_users:
        why = (f"only {n} holdout user(s) with a history and a new item since "
               f"{period.start:%Y-%m-%d %H:%M} (retraining.min_users = {config.min_users}): "
               "too few to compare, the live version stays")  # fmt: skip
        return GuardResult("KEEP", why, users=n, **base)
    old = per_user_metric(live, period, users, config.metric, weights)
    new = per_user_metric(candidate, period, users, config.metric, weights)
    return judge(new, old, config.margin, config.bootstrap, base)


def judge(
    new: np.ndarray,
    old: np.ndarray,
    margin: float,
    bootstrap: int,
    base: Mapping[str, Any],
    *,
    lower_is_better: bool = False,
) -> GuardResult:
    """The non-inferiority verdict on paired per-user values (candidate ``new``, live ``old``).

    Higher is better: PROMOTE when the lower end of the 95% interval of ``new - old`` lies
    above ``-margin``. Lower is better (a loss): PROMOTE when its upper end lies below
    ``+margin``. The figures stay in the metric's own units.

    Args:
        new, old: the candidate's and the live version's value for each evaluated user.
        margin: the non-inferiority margin (metric units, >= 0).
        bootstrap: resamples of the paired bootstrap interval.
        base: the other fields of the result (``metric``, ``live``, ``candidate``, ...).
        lower_is_better: the metric is a loss.
    """
    n = len(new)
    diff, low, high, _ = paired_test(new, old, n_resamples=bootstrap, seed=0)
    sign = -1.0 if lower_is_better else 1.0
    p_worse = _p_worse(sign * new, sign * old, margin)
    figures: dict[str, Any] = dict(
        users=n, live_value=float(old.mean()), candidate_value=float(new.mean()),
        diff=diff, low=low, high=high, p_worse=p_worse, lower_is_better=lower_is_better,
    )  # fmt: skip
    metric = base["metric"]
    said = (
        f"{metric} candidate {new.mean():.4f} vs live {old.mean():.4f} over {n} holdout"
        f" users: difference {diff:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}]"
    )
    if lower_is_better and high < margin:
        why = f"{said} lies below +margin {margin:.4f} (lower is better): not worse"
    elif not lower_is_better and low > -margin:
        why = f"{said} lies above -margin {-margin:.4f}: not worse"
    else:
        bound = f"above +margin {margin:.4f} (lower is better)" if lower_is_better else (
            f"below -margin {-margin:.4f}")  # fmt: skip
        why = f"{said} reaches {bound}: may be worse, the live version stays"
        return GuardResult("KEEP", why, **figures, **base)
    return GuardResult("PROMOTE", why, **figures, **base)


def _p_worse(new: np.ndarray, old: np.ndarray, margin: float) -> float:
    """One-sided paired t-test of H0 "candidate <= live - margin"; NaN when undefined."""
    d = new - old + margin
    if len(d) < 2 or not np.any(d - d.mean()):
        return float("nan")
    return float(stats.ttest_rel(new + margin, old, alternative="greater").pvalue)
