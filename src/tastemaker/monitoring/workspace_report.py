"""The monitoring report of a workspace: its latest check with the reference and traffic."""

from __future__ import annotations

from pathlib import Path

from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.checks import MonitorResult
from tastemaker.monitoring.report import write_monitor_report
from tastemaker.workspace import Workspace


def write_workspace_report(ws: Workspace, result: MonitorResult, path: Path) -> None:
    """Write the HTML report of ``result`` (a check of ``ws``) to ``path``: drift of served
    lists and engagements against the checked version's reference (the frames the check
    compared), online metrics and the alerts of the online window."""
    since = result.at - ws.settings.monitoring.online_days * 86_400
    alerts = AlertLog(ws.store).since(since)
    write_monitor_report(path, result, ws.settings.monitoring, alerts=alerts)
