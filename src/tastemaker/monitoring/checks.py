"""One monitoring pass: drift of the active version, online metrics, drops, alerts.

:func:`run_monitor` is what ``tastemaker monitor`` (and a scheduler, or the retraining
loop) runs: it checks drift, computes online metrics and their drops, appends an alert
for every drifted feature and every drop, and writes ``reports/monitoring.json`` (the
latest figures, which ``/metrics`` exposes without recomputing them).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tastemaker.errors import TastemakerError
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.drift import DriftReport, check_drift
from tastemaker.monitoring.drops import MetricDrop, metric_drops
from tastemaker.monitoring.online import OnlineRow, online_metrics
from tastemaker.workspace import Workspace

SNAPSHOT_FILE = "monitoring.json"


@dataclass
class MonitorResult:
    """What one pass found: the drift report (or why there is none), online rows, drops,
    and the sequence numbers of the alerts written."""

    drift: DriftReport | None
    drift_error: str | None
    online: list[OnlineRow] = field(default_factory=list)
    drops: list[MetricDrop] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)
    at: float = 0.0

    @property
    def alarming(self) -> bool:
        """Whether drift or a metric drop was found."""
        return bool((self.drift is not None and self.drift.drifted) or self.drops)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "at": self.at,
            "drift": self.drift.to_dict() if self.drift is not None else None,
            "drift_error": self.drift_error,
            "online": [r.to_dict() for r in self.online],
            "drops": [d.to_dict() for d in self.drops],
            "alerts": self.alerts,
            "alarming": self.alarming,
        }


def run_monitor(
    ws: Workspace,
    version: str | None = None,
    days: float | None = None,
    now: float | None = None,
    *,
    record: bool = True,
) -> MonitorResult:
    """Check drift and online metrics; write alerts (``record``) and the snapshot file.

    Args:
        ws: the workspace.
        version: the model version checked for drift (None: the active one).
        days: drift window (None: ``monitoring.window_days``).
        now: epoch seconds the windows end at (None: now).
        record: append alerts to the alert log.
    """
    at = time.time() if now is None else now
    drift: DriftReport | None = None
    error: str | None = None
    try:
        drift = check_drift(ws, version, days, at)
    except TastemakerError as exc:  # no active version, no reference: online metrics still run
        error = exc.message
    online = online_metrics(ws, now=at)
    drops = metric_drops(online, ws.settings.monitoring, at)
    result = MonitorResult(drift, error, online, drops, at=at)
    if record:
        result.alerts = write_alerts(AlertLog(ws.store), result)
    write_snapshot(ws, result)
    return result


def write_alerts(log: AlertLog, result: MonitorResult) -> list[int]:
    """An alert per drifted feature and per metric drop of ``result``."""
    seqs = []
    drift = result.drift
    if drift is not None and drift.drifted:
        window = {"start_ms": drift.start_ms, "end_ms": drift.end_ms, "items": drift.items,
                  "engaged": drift.engaged}  # fmt: skip
        for f in drift.features:
            if f.drifted:
                seqs.append(log.record("drift", f.feature, {**f.to_dict(), **window},
                                       drift.version, result.at))  # fmt: skip
    for d in result.drops:
        seqs.append(log.record("metric_drop", d.subject, d.to_dict(), d.version, result.at))
    return seqs


def snapshot_path(ws: Workspace) -> Path:
    """Where the latest monitoring figures are kept (``reports/monitoring.json``)."""
    return ws.settings.path(ws.settings.reports_dir) / SNAPSHOT_FILE


def write_snapshot(ws: Workspace, result: MonitorResult) -> Path:
    """Replace the snapshot file with ``result`` atomically."""
    path = snapshot_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result.to_dict(), default=str))
    os.replace(tmp, path)
    return path


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The snapshot at ``path``, or None when absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
