"""/metrics shows the monitoring figures, alert counts, model age and ingested rows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from tastemaker.access.audit import RETRAIN_ACTION, AuditLog
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.checks import MonitorResult, write_snapshot
from tastemaker.monitoring.drift import DriftReport
from tastemaker.monitoring.exporter import MonitoringCollector
from tastemaker.monitoring.online import OnlineRow
from tastemaker.monitoring.stats import FeatureDrift
from tastemaker.serving import create_app
from tastemaker.workspace import Workspace


def _result() -> MonitorResult:
    price = FeatureDrift("price", "numeric", "ks", 500, 0.8, 0.4, 1e-9, True, 10.0, 20.0)
    color = FeatureDrift("category", "categorical", "chi2", 500, 0.01, 3.0, 0.5, False)
    drift = DriftReport("v0001", 0, 1000, 50, 500, 200, [price, color])
    online = [OnlineRow("2026-03-01", "v0001", None, None, 100, 5, 1),
              OnlineRow("2026-03-02", "v0001", None, None, 200, 30, 2),
              OnlineRow("2026-03-02", None, "exp", "b", 80, 8, 0)]  # fmt: skip
    return MonitorResult(drift, None, online, at=1234.0)


def test_the_collector_exposes_the_last_pass_and_the_alert_counts(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(ws, ttl=0))
    assert b"tastemaker_drift_psi" not in generate_latest(registry)  # no pass yet
    write_snapshot(ws, _result())
    AlertLog(ws.store).record("drift", "price", {"psi": 0.8}, "v0001")
    text = generate_latest(registry).decode()
    assert 'tastemaker_drift_psi{feature="price",version="v0001"} 0.8' in text
    assert 'tastemaker_drift_detected{version="v0001"} 1.0' in text
    assert 'tastemaker_online_ctr{experiment="",variant="",version="v0001"} 0.15' in text
    assert 'tastemaker_online_impressions{experiment="exp",variant="b",version=""} 80.0' in text
    assert 'tastemaker_alerts{kind="drift"} 1.0' in text
    assert 'tastemaker_alerts{kind="metric_drop"} 0.0' in text


def test_metrics_count_ingested_rows_and_show_monitoring(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    write_snapshot(ws, _result())
    events = [{"event_id": "e1", "user_id": "u1", "type": "view", "item_id": "i1",
               "timestamp": "2026-03-01T00:00:00Z"},
              {"event_id": "e2", "user_id": "u1", "type": "view", "item_id": "i1",
               "timestamp": "not a time"}]  # fmt: skip
    with TestClient(create_app(ws)) as client:
        assert client.post("/v1/events", json=events).status_code == 200
        text = client.get("/metrics").text
    rows = "tastemaker_ingested_rows_total"
    assert f'{rows}{{kind="event",outcome="accepted",source="api"}} 1.0' in text
    assert f'{rows}{{kind="event",outcome="refused",source="api"}} 1.0' in text
    assert "tastemaker_drift_psi" in text and "tastemaker_alerts" in text


def test_the_last_guarded_retrain_is_a_gauge_with_its_verdict(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    registry = CollectorRegistry()
    registry.register(MonitoringCollector(ws, ttl=0))
    assert b"tastemaker_retrain_last" not in generate_latest(registry)  # never retrained
    audit = AuditLog(ws.store)
    audit.record("worker:retrain", RETRAIN_ACTION, "v0002", "ok", verdict="PROMOTE",
                 propensity={"verdict": "KEEP"})  # fmt: skip
    audit.record("cli:ops", "models.promote", "v0001", "ok")  # other actions are skipped
    text = generate_latest(registry).decode()
    gauge = "tastemaker_retrain_last_timestamp_seconds"
    assert f'{gauge}{{propensity="KEEP",verdict="PROMOTE"}}' in text
    audit.record(
        "worker:retrain",
        RETRAIN_ACTION,
        None,
        "ok",
        verdict="SKIPPED",
        propensity={"verdict": "PROMOTE"},
    )  # a workspace serving propensity alone
    text = generate_latest(registry).decode()
    assert f'{gauge}{{propensity="PROMOTE",verdict="SKIPPED"}}' in text
    audit.record("worker:retrain", RETRAIN_ACTION, "v0002", "error", error="no events")
    text = generate_latest(registry).decode()
    assert f'{gauge}{{propensity="none",verdict="error"}}' in text
    assert 'verdict="PROMOTE"' not in text
