"""Monitoring figures for Prometheus: :class:`MonitoringCollector`, read at each scrape.

Nothing is recomputed per scrape: drift and online figures come from the snapshot the
last ``tastemaker monitor`` pass wrote (``reports/monitoring.json``, re-read when it
changes), alert counts from the store (at most every ``ttl`` seconds), and model age from
the registry. A failing part is logged and left out; the scrape still answers.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tastemaker.access.audit import RETRAIN_ACTION, AuditLog
from tastemaker.monitoring.alerts import AlertLog
from tastemaker.monitoring.checks import read_snapshot, snapshot_path
from tastemaker.registry.registry import ModelRegistry
from tastemaker.storage.base import AuditEntry
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)


class MonitoringCollector(Collector):
    """Drift, online metrics, alert counts, model age and the last retrain as gauges.

    Args:
        ws: the workspace.
        ttl: seconds an alert count read from the store is reused.
    """

    def __init__(self, ws: Workspace, ttl: float = 15.0) -> None:
        self.ws = ws
        self.ttl = ttl
        self._snapshot: tuple[float, dict[str, Any] | None] = (-1.0, None)
        self._alerts: tuple[float, dict[str, int]] = (-math.inf, {})
        self._retrain: tuple[float, AuditEntry | None] = (-math.inf, None)

    def describe(self) -> list[Metric]:
        """Nothing up front (registration must not read files or the store)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The gauges, part by part."""
        parts = (self._drift, self._online, self._alert_counts, self._model_age, self._last_retrain)
        for part in parts:
            try:
                yield from part()
            except Exception:  # a scrape must answer whatever one part does
                log.exception("monitoring metrics: %s failed", part.__name__)

    def snapshot(self) -> dict[str, Any] | None:
        """The latest monitoring pass (re-read when the file changed)."""
        path = snapshot_path(self.ws)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if mtime != self._snapshot[0]:
            self._snapshot = (mtime, read_snapshot(path))
        return self._snapshot[1]

    def _drift(self) -> Iterator[Metric]:
        snap = self.snapshot()
        drift = (snap or {}).get("drift")
        if not drift:
            return
        psi = GaugeMetricFamily("tastemaker_drift_psi", "Population stability index of a "
                                "served-list or engaged (engaged.*) feature against its "
                                "reference (last monitor pass)",
                                labels=["version", "feature"])  # fmt: skip
        pval = GaugeMetricFamily("tastemaker_drift_p_value", "p-value of the feature's test "
                                 "(Kolmogorov-Smirnov or chi-square)",
                                 labels=["version", "feature", "test"])  # fmt: skip
        for f in drift.get("features", []):
            if f.get("psi") is not None:
                psi.add_metric([drift["version"], f["feature"]], float(f["psi"]))
            if f.get("p_value") is not None:
                pval.add_metric([drift["version"], f["feature"], f["test"]], float(f["p_value"]))
        detected = GaugeMetricFamily("tastemaker_drift_detected", "1 when the last monitor "
                                     "pass found drift", labels=["version"])  # fmt: skip
        detected.add_metric([drift["version"]], 1.0 if drift.get("drifted") else 0.0)
        checked = GaugeMetricFamily("tastemaker_monitor_last_run_timestamp_seconds",
                                    "When the last monitor pass ran")  # fmt: skip
        checked.add_metric([], float(snap.get("at", 0.0)) if snap else 0.0)
        yield from (psi, pval, detected, checked)

    def _online(self) -> Iterator[Metric]:
        rows = (self.snapshot() or {}).get("online") or []
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in rows:  # rows are sorted by day: the last one of a series wins
            key = (r.get("version") or "", r.get("experiment") or "", r.get("variant") or "")
            latest[key] = r
        labels = ["version", "experiment", "variant"]
        per = "of the latest day, per model version or experiment variant"
        ctr = GaugeMetricFamily("tastemaker_online_ctr", f"Click-through {per}", labels=labels)
        conv = GaugeMetricFamily("tastemaker_online_conversion", f"Conversion {per}",
                                 labels=labels)  # fmt: skip
        imps = GaugeMetricFamily("tastemaker_online_impressions", f"Impressions {per}",
                                 labels=labels)  # fmt: skip
        for key, r in sorted(latest.items()):
            ctr.add_metric(list(key), float(r["ctr"]))
            conv.add_metric(list(key), float(r["conversion"]))
            imps.add_metric(list(key), float(r["impressions"]))
        yield from (ctr, conv, imps)

    def _alert_counts(self) -> Iterator[Metric]:
        at, counts = self._alerts
        if time.monotonic() - at > self.ttl:
            counts = AlertLog(self.ws.store).counts()
            self._alerts = (time.monotonic(), counts)
        family = GaugeMetricFamily("tastemaker_alerts", "Alerts in the alert log, per kind",
                                   labels=["kind"])  # fmt: skip
        for kind, n in sorted(counts.items()):
            family.add_metric([kind], float(n))
        yield family

    def _last_retrain(self) -> Iterator[Metric]:
        at, entry = self._retrain
        if time.monotonic() - at > self.ttl:
            entry = AuditLog(self.ws.store).last(RETRAIN_ACTION)
            self._retrain = (time.monotonic(), entry)
        if entry is None:
            return
        detail = json.loads(entry.detail)
        verdict = str(detail.get("verdict") or entry.outcome)
        step = detail.get("propensity")
        propensity = str(step.get("verdict")) if isinstance(step, dict) else "none"
        when = GaugeMetricFamily("tastemaker_retrain_last_timestamp_seconds", "When the last "
                                 "guarded retrain ran, labelled with the recommender's verdict "
                                 "(PROMOTE, KEEP, SKIPPED, or error) and the propensity "
                                 "model's (PROMOTE, KEEP, SKIPPED; none when not recorded)",
                                 labels=["verdict", "propensity"])  # fmt: skip
        when.add_metric([verdict, propensity], entry.at / 1000)
        yield when

    def _model_age(self) -> Iterator[Metric]:
        registry = ModelRegistry(self.ws.settings.path(self.ws.settings.models_dir))
        active = registry.state().active
        if active is None:
            return
        manifest = registry.manifest(active)
        now = time.time()
        created = datetime.strptime(manifest.created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        age = GaugeMetricFamily("tastemaker_model_age_seconds", "Seconds since the active "
                                "version was trained", labels=["version"])  # fmt: skip
        age.add_metric([active], now - created.timestamp())
        data = GaugeMetricFamily("tastemaker_model_data_age_seconds", "Seconds since the "
                                 "newest event the active version was trained on",
                                 labels=["version"])  # fmt: skip
        if manifest.data.end_ms:
            data.add_metric([active], now - manifest.data.end_ms / 1000)
        yield from (age, data)
