"""Settings of operating tastemaker: monitoring, guarded retraining, retention and opt-out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tastemaker.config.base import Strict as _Strict

#: Per-user losses a propensity version can be judged on (lower is better).
PropensityMetric = Literal["log_loss", "brier"]


class MonitoringConfig(_Strict):
    """Drift and online-metric monitoring (`tastemaker monitor`): windows and thresholds."""

    #: Served traffic compared with a version's reference: the last ``window_days``.
    window_days: float = Field(default=1.0, gt=0)
    #: Population stability index at or above which a numeric feature has drifted.
    psi_threshold: float = Field(default=0.2, gt=0)
    #: Kolmogorov-Smirnov p-value below which a numeric feature has drifted (with the PSI).
    ks_p_threshold: float = Field(default=0.01, gt=0, lt=1)
    #: Chi-square p-value below which a categorical feature has drifted (with the PSI).
    chi2_p_threshold: float = Field(default=0.01, gt=0, lt=1)
    #: Fewest served items in the window for a drift verdict (fewer: not enough traffic).
    min_samples: int = Field(default=200, ge=1)
    #: A click-through or conversion this much lower (relative) than before is a metric drop.
    metric_drop: float = Field(default=0.3, gt=0, le=1)
    #: Days of online metrics read (and the baseline of a drop: the days before the last).
    online_days: float = Field(default=14.0, gt=0)
    #: A click or purchase counts for an impression of the item this long after it.
    attribution_hours: float = Field(default=24.0, gt=0)
    #: Fewest impressions a day (per version) for a metric drop verdict.
    min_impressions: int = Field(default=100, ge=1)


class PrivacyConfig(_Strict):
    """Retention of the event log and how fast opt-outs reach every process."""

    #: Events (and dead letters, acknowledged stream entries, logged lines) older than this
    #: many days are deleted by `tastemaker retention` and the worker (null: kept forever).
    retention_days: float | None = Field(default=None, gt=0)
    #: How often the worker's scheduler runs retention (`cli.worker_jobs.retention_line`).
    retention_every_hours: float = Field(default=6.0, gt=0)
    #: Every process re-reads the set of opted-out users this often (seconds).
    consent_refresh_seconds: float = Field(default=5.0, gt=0, le=3600)


class RetrainingConfig(_Strict):
    """Guarded retraining (``tastemaker retrain`` and the worker's retrain job).

    A candidate is trained on the ``window_days`` before the holdout, the freshest
    ``holdout_days`` of events; it replaces the live version only if, on the holdout, its
    per-user ``metric`` is not worse than the live version's by more than ``margin``
    (the lower end of the paired 95% interval of candidate minus live above ``-margin``).
    When a propensity model is live, a propensity candidate is trained on the same window
    and judged alike on its per-user ``propensity_metric`` (lower is better: the upper end
    of the interval of candidate minus live below ``propensity_margin``).
    """

    window_days: float = Field(default=30.0, gt=0)
    holdout_days: float = Field(default=3.0, gt=0)
    metric: str = Field(
        default="ndcg@10", pattern=r"^(precision|recall|ndcg|map|mrr|hit_rate)@[1-9]\d*$"
    )
    margin: float = Field(default=0.005, ge=0)
    min_users: int = Field(default=30, ge=2)
    bootstrap: int = Field(default=1000, ge=100)
    model: str | None = None
    schedule_hours: float = Field(default=168.0, ge=0)
    propensity_metric: PropensityMetric = "log_loss"
    propensity_margin: float = Field(default=0.005, ge=0)
