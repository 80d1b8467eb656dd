"""Monitoring: reference statistics per model version, drift, online metrics and alerts."""

from tastemaker.monitoring.alerts import Alert, AlertLog
from tastemaker.monitoring.checks import MonitorResult, run_monitor
from tastemaker.monitoring.drift import DriftReport, check_drift
from tastemaker.monitoring.drops import MetricDrop, metric_drops
from tastemaker.monitoring.online import OnlineRow, online_metrics
from tastemaker.monitoring.reference import REFERENCE_FILE, Reference
from tastemaker.monitoring.stats import FeatureDrift

__all__ = [
    "REFERENCE_FILE",
    "Alert",
    "AlertLog",
    "DriftReport",
    "FeatureDrift",
    "MetricDrop",
    "MonitorResult",
    "OnlineRow",
    "Reference",
    "check_drift",
    "metric_drops",
    "online_metrics",
    "run_monitor",
]
