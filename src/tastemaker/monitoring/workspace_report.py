"""The monitoring report of a workspace: its latest check with the reference and traffic."""

from __future__ import annotations

from pathlib import Path

from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.checks import MonitorResult
from tastemaker.monitoring.drift import window_features
from tastemaker.monitoring.engaged import engaged_attributes, window_engaged
from tastemaker.monitoring.reference import Reference
from tastemaker.monitoring.report import write_monitor_report
from tastemaker.registry.registry import ModelRegistry
from tastemaker.workspace import Workspace


def write_workspace_report(ws: Workspace, result: MonitorResult, path: Path) -> None:
    """Write the HTML report of ``result`` (a check of ``ws``) to ``path``: drift of served
    lists and engagements against the checked version's reference, online metrics and the
    alerts of the online window."""
    reference = served = engaged = None
    drift = result.drift
    if drift is not None:
        registry = ModelRegistry(ws.settings.path(ws.settings.models_dir))
        reference = Reference.load(registry.path(drift.version))
        served, _ = window_features(ws, drift.version, drift.start_ms, drift.end_ms)
        attributes = engaged_attributes(list(reference.categorical))
        if attributes:
            engaged = window_engaged(ws, attributes, drift.start_ms, drift.end_ms)
    since = result.at - ws.settings.monitoring.online_days * 86_400
    write_monitor_report(path, result, ws.settings.monitoring, reference=reference,
                         served=served, engaged=engaged,
                         alerts=AlertLog(ws.store).since(since))  # fmt: skip
