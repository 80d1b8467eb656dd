"""The alert log on every Store backend (SQLite and PostgreSQL): append and read only."""

from __future__ import annotations

from tastemaker.monitoring.alerts import AlertLog
from tastemaker.workspace import Workspace


def test_alerts_round_trip_in_order_by_time_and_kind(workspace: Workspace) -> None:
    log = AlertLog(workspace.store)
    first = log.record("drift", "price", {"psi": 0.41, "p_value": 1e-12}, "v0002", ts=1_000.5)
    second = log.record("metric_drop", "ctr:v0002", {"rate": 0.01}, "v0002", ts=2_000.0)
    assert second > first
    rows = log.since()
    assert [(a.seq, a.kind, a.subject) for a in rows] == [
        (first, "drift", "price"), (second, "metric_drop", "ctr:v0002"),
    ]  # fmt: skip
    assert rows[0].ts == 1_000.5 and rows[0].detail == {"psi": 0.41, "p_value": 1e-12}
    assert [a.subject for a in log.since(1_500.0)] == ["ctr:v0002"]
    assert [a.subject for a in log.since(kind="drift")] == ["price"]
    assert log.counts() == {"drift": 1, "metric_drop": 1}
