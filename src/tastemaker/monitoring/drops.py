"""Metric drops: a day's click-through or conversion well below the days before it.

For each model version and experiment variant, the last complete day (one that ended at
least ``attribution_hours`` ago, so its clicks and purchases are in) is compared with the
pooled days before it in the window. A drop is reported when the rate is lower than the
baseline by at least ``metric_drop`` (relative), both sides hold ``min_impressions``, and
a one-sided two-proportion z-test (statsmodels) gives p < 0.05.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from statsmodels.stats.proportion import proportions_ztest

from tastemaker.config import MonitoringConfig
from tastemaker.monitoring.online import OnlineRow

_P_VALUE = 0.05


@dataclass(frozen=True)
class MetricDrop:
    """A day's rate of one series far below its baseline."""

    series: str
    metric: str  # ctr | conversion
    day: str
    rate: float
    baseline: float
    impressions: int
    baseline_impressions: int
    p_value: float
    version: str | None = None

    @property
    def subject(self) -> str:
        """The alert subject: ``ctr:v0003``, ``conversion:exp/b``."""
        return f"{self.metric}:{self.series}"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def last_complete_day(now: float, attribution_hours: float) -> date:
    """The latest UTC day whose impressions have had their whole attribution window."""
    cutoff = datetime.fromtimestamp(now, UTC) - timedelta(hours=attribution_hours)
    return cutoff.date() - timedelta(days=1)


def metric_drops(rows: list[OnlineRow], cfg: MonitoringConfig, now: float) -> list[MetricDrop]:
    """Every drop of click-through or conversion on the last complete day (see module)."""
    last = last_complete_day(now, cfg.attribution_hours).isoformat()
    by_series: dict[str, list[OnlineRow]] = {}
    for row in rows:
        by_series.setdefault(row.series, []).append(row)
    drops = []
    for series, days in sorted(by_series.items()):
        today = [r for r in days if r.day == last]
        before = [r for r in days if r.day < last]
        if not today or not before:
            continue
        n1, n0 = today[0].impressions, sum(r.impressions for r in before)
        if n1 < cfg.min_impressions or n0 < cfg.min_impressions:
            continue
        for metric, x1, x0 in (
            ("ctr", today[0].clicks, sum(r.clicks for r in before)),
            ("conversion", today[0].conversions, sum(r.conversions for r in before)),
        ):
            rate, base = x1 / n1, x0 / n0
            if base <= 0 or rate > (1 - cfg.metric_drop) * base:
                continue
            _, p = proportions_ztest(np.array([x1, x0]), np.array([n1, n0]), alternative="smaller")
            if p < _P_VALUE:
                drops.append(MetricDrop(series, metric, last, rate, base, n1, n0, float(p),
                                        today[0].version))  # fmt: skip
    return drops
