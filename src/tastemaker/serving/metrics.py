"""Prometheus metrics of the API: requests, latency per endpoint, stages, model, cache.

``install_metrics(app)`` adds a light ASGI middleware and keeps the metrics on
``app.state.metrics``; ``GET /metrics`` renders them in the text format.

With several server processes (``tastemaker serve --workers N``) prometheus-client's
multiprocess mode is used: ``serve`` gives the workers a fresh folder in
``PROMETHEUS_MULTIPROC_DIR`` (set before a worker imports prometheus_client), every
process writes its values there, and a scrape adds up the files of all processes, whichever
worker answers it. Without that variable (one process, tests) each app has its own registry.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from tastemaker.schema import IngestSummary
from tastemaker.serving.responses import error_responses

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_BUCKETS = (0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0)


class ServingMetrics:
    """The API's metrics in their own registry (one per app); the engine's observer."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tastemaker_requests", "HTTP requests", ["endpoint", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "tastemaker_request_seconds",
            "Request latency per endpoint",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.stages = Histogram(
            "tastemaker_stage_seconds",
            "Time per pipeline stage",
            ["stage"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.model = Gauge(
            "tastemaker_model_version_info",
            "Loaded model versions (1 = serving)",
            ["version", "role"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.cache = Counter(
            "tastemaker_cache_lookups", "Result cache lookups", ["result"], registry=r
        )
        self.cache_hit_rate = Gauge(
            "tastemaker_cache_hit_rate",
            "Result cache hit rate (per process with several workers)",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.impressions = Counter(
            "tastemaker_impressions_queued",
            "Served lists queued for impression logging",
            registry=r,
        )
        self.config_valid = Gauge(
            "tastemaker_config_valid",
            "1 when the latest recommendations.yaml serves, 0 when it was refused (the "
            "previous settings serve; /readyz says why)",
            registry=r,
            multiprocess_mode="livemin",
        )
        self.ingested_rows = Counter(
            "tastemaker_ingested_rows",
            "Rows of ingested batches (events, items, users) by outcome: accepted, duplicate, "
            "refused (kept as dead letters); source api or platform (impressions, exposures)",
            ["kind", "source", "outcome"],
            registry=r,
        )
        #: Collectors computed at scrape time (monitoring figures), also in multiprocess mode.
        self.collectors: list[Collector] = []
        self._roles: list[tuple[str, str]] = []
        self._stage_children: dict[str, Any] = {}
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def stage(self, name: str, seconds: float) -> None:
        """Record the time of one pipeline stage."""
        child = self._stage_children.get(name)
        if child is None:
            child = self._stage_children[name] = self.stages.labels(name)
        child.observe(seconds)

    def http_children(self, endpoint: str, method: str, status: int) -> tuple[Any, Any]:
        """The latency histogram and request counter of one endpoint / method / status."""
        key = (endpoint, method, status)
        found = self._http_children.get(key)
        if found is None:
            found = (
                self.latency.labels(endpoint),
                self.requests.labels(endpoint, method, str(status)),
            )
            self._http_children[key] = found
        return found

    def set_models(self, roles: dict[str, str]) -> None:
        """Show which version plays which role (active, canary, shadow)."""
        for version, role in self._roles:  # a multiprocess file keeps a removed value: 0
            self.model.labels(version, role).set(0)
        self.model.clear()
        for role, version in roles.items():
            self.model.labels(version, role).set(1)
        self._roles = [(version, role) for role, version in roles.items()]

    def cache_lookup(self, hit: bool, rate: float) -> None:
        """Count a cache lookup and publish the running hit rate."""
        self.cache.labels("hit" if hit else "miss").inc()
        self.cache_hit_rate.set(rate)

    def impressions_queued(self, lists: int) -> None:
        """Count served lists queued for impression logging."""
        self.impressions.inc(lists)

    def config_status(self, valid: bool) -> None:
        """Publish whether the latest ``recommendations.yaml`` serves."""
        self.config_valid.set(1 if valid else 0)

    def ingested(self, kind: str, source: str, summary: IngestSummary) -> None:
        """Count a stored batch's rows by outcome (an ingestor observer)."""
        for outcome, n in (("accepted", summary.accepted), ("duplicate", summary.duplicates),
                           ("refused", summary.rejected)):  # fmt: skip
            if n:
                self.ingested_rows.labels(kind, source, outcome).inc(n)

    def add_collector(self, collector: Collector) -> None:
        """Expose a scrape-time collector (e.g. the monitoring figures) on ``/metrics``."""
        self.registry.register(collector)
        self.collectors.append(collector)


class _MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request by route template."""

    def __init__(self, app: Any, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            latency, count = self.metrics.http_children(
                endpoint, scope.get("method", ""), status[0]
            )
            latency.observe(time.perf_counter() - start)
            count.inc()


def install_metrics(app: FastAPI) -> ServingMetrics:
    """Attach the metrics middleware and registry to ``app``."""
    metrics = ServingMetrics()
    app.state.metrics = metrics
    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    return metrics


def get_metrics(request: Request) -> ServingMetrics:
    """The app's metrics (a private set when the app was built without them)."""
    state = request.app.state
    if not hasattr(state, "metrics"):
        state.metrics = ServingMetrics()
    metrics: ServingMetrics = state.metrics
    return metrics


def fresh_multiprocess_dir() -> tuple[Path, bool]:
    """An empty folder for the values of several server processes, set in the environment.

    A folder already named in ``PROMETHEUS_MULTIPROC_DIR`` is used with its value files of
    an earlier run deleted; otherwise a new temporary folder is made. Call it before the
    worker processes start (they inherit the environment). Returns the folder and whether
    it was made here (then the caller removes it when the server stops).
    """
    given = os.environ.get(MULTIPROC_ENV)
    if not given:
        folder = Path(tempfile.mkdtemp(prefix="tastemaker-metrics-"))
        os.environ[MULTIPROC_ENV] = str(folder)
        return folder, True
    folder = Path(given)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder, False


def process_exit() -> None:
    """Drop this process's live gauges from the multiprocess values (a worker stopping)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())


def exposition(metrics: ServingMetrics) -> bytes:
    """The text format of ``metrics``, or of every server process in multiprocess mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest(metrics.registry)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in metrics.collectors:  # computed by the answering process
        registry.register(collector)
    return generate_latest(registry)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    # serving.open_endpoints may ask a read key of the caller (the guard's answers)
    responses=error_responses(401, 403, 429),
)
def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format: requests, latency, stages, models, cache, ingestion, monitoring."""
    return Response(exposition(get_metrics(request)), media_type=CONTENT_TYPE_LATEST)
