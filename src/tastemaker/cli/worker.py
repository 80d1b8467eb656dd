"""`tastemaker worker`: apply events from Redis Streams to profiles (scaled-out mode)."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import start_http_server

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.cli.worker_jobs import JobRun, JobScheduler, run_jobs_thread, worker_jobs
from tastemaker.config import RedisBusConfig
from tastemaker.process import ProcessTuning
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import fast_path
from tastemaker.profiles.worker import (
    StatsRecorder,
    WorkerHealth,
    WorkerOptions,
    WorkerStats,
    parse_partitions,
    run_worker,
)
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace


def worker(
    workspace: WorkspaceOpt = Path("."),
    partitions: Annotated[
        str | None,
        typer.Option(help="Partitions to own: '0,1', 'i/n' (every n-th from i); default all."),
    ] = None,
    consumer: Annotated[str | None, typer.Option(help="Consumer name in the group.")] = None,
    batch: Annotated[int, typer.Option(help="Stream entries per read.")] = 100,
    metrics_port: Annotated[
        int, typer.Option(help="Serve Prometheus metrics (/metrics) on this port; 0: off.")
    ] = 0,
    retry_max: Annotated[
        float, typer.Option(help="Longest pause (s) between retries during an outage.")
    ] = 30.0,
    max_events: Annotated[int | None, typer.Option(hidden=True)] = None,
    stats_file: Annotated[Path | None, typer.Option(hidden=True)] = None,
    jobs_only: Annotated[
        bool,
        typer.Option(help="Run only the periodic jobs (retraining, ...), no stream consumption."),
    ] = False,
) -> None:
    """Consume accepted events (bus.type: redis) and keep profiles and segments current.

    Run one worker per set of partitions; each partition must be owned by one worker so a
    user's events apply in order. Stop with Ctrl-C or SIGTERM; un-acknowledged events are
    delivered again to the restarted worker and applied idempotently. An outage of Redis or
    the store is waited out (backoff, logged, `tastemaker_worker_up` 0); the worker then
    catches up, and publishes events stored while publishing failed.

    The worker owning partition 0 also runs the periodic jobs (the guarded retrain, on its
    schedule or after an alert); `--jobs-only` runs only them, with any bus.
    """
    if jobs_only:
        _jobs_only(workspace)
        return
    options = WorkerOptions(batch=batch, max_events=max_events, retry_max_s=retry_max,
                            keep_latency=stats_file is not None)  # fmt: skip
    with opened(workspace) as ws:
        _consume(ws, partitions, consumer, metrics_port, options, stats_file)


def _consume(
    ws: Workspace,
    partitions: str | None,
    consumer: str | None,
    metrics_port: int,
    options: WorkerOptions,
    stats_file: Path | None,
) -> None:
    """The stream worker: consume the owned partitions until stopped (and run the jobs
    when it owns partition 0)."""
    bus_cfg = ws.settings.bus
    if not isinstance(bus_cfg, RedisBusConfig):
        raise fail("the workspace bus is 'inprocess'; set bus.type: redis in tastemaker.yaml")
    try:
        owned = parse_partitions(partitions, bus_cfg.partitions)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    name = consumer or f"worker-{'-'.join(str(p) for p in owned)}"
    service = ProfileService(ws.settings, ws.store, fast=fast_path(ws.settings), owner=True)
    bus = RedisStreamBus(bus_cfg, owned)
    stop = _stop_on_signals()
    console.print(f"worker {name} (pid {os.getpid()}) owns partitions {owned}")
    # Profile states are many long-lived, acyclic small objects: a full collection over
    # them paused the worker for ~100 ms. The process tuning freezes survivors out of
    # the collector's reach every second (refcounting still frees dropped profiles).
    ProcessTuning(ws.settings.process).apply()
    # One worker (the owner of partition 0) records segment sizes over time.
    interval = ws.settings.profiles.stats_interval_minutes * 60 if 0 in owned else 0.0
    recorder = StatsRecorder(service, interval)

    def after_batch(_stats: WorkerStats) -> None:
        recorder.maybe_record()

    jobs = run_jobs_thread(ws.root, stop, _print_run) if 0 in owned else None
    health = _health(name, metrics_port, ws)
    stats = run_worker(service, bus, name, stop=stop, on_batch=after_batch, health=health,
                       outbox=ws.outbox, options=options)  # fmt: skip
    bus.close()
    stop.set()  # max_events reached: the jobs stop too
    if jobs is not None:
        jobs.join(timeout=60)
    if stats_file is not None:
        _write_stats(stats, stats_file)
    console.print(f"stopped: {stats.events:,} events, {stats.applied:,} applied")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _print_run(run: JobRun) -> None:
    console.print(f"job {run.job}: {'ok' if run.ok else 'FAILED'}: {run.message}")


def _jobs_only(workspace: Path) -> None:
    """Run the periodic jobs in this thread until Ctrl-C or SIGTERM."""
    with opened(workspace) as ws:
        stop = _stop_on_signals()
        ProcessTuning(ws.settings.process).apply()
        jobs = worker_jobs(ws)
        listed = ", ".join(f"{j.name} every {j.every_seconds:g} s" for j in jobs)
        console.print(f"worker (pid {os.getpid()}) runs jobs only: {listed}")
        JobScheduler(jobs).run(ws, stop, _print_run)
    console.print("stopped")


def _health(name: str, metrics_port: int, ws: Workspace) -> WorkerHealth:
    """The worker's state and gauges, served on ``metrics_port`` (0: not served), with the
    workspace's monitoring figures (drift, online metrics, alerts, model age)."""
    from tastemaker.monitoring.exporter import MonitoringCollector

    health = WorkerHealth(name)
    health.registry.register(MonitoringCollector(ws))
    if metrics_port:
        start_http_server(metrics_port, registry=health.registry)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    return health


def _write_stats(stats: WorkerStats, path: Path) -> None:
    """What the worker did, with per-event latencies (benchmarks read it)."""
    path.write_text(
        json.dumps(
            {"events": stats.events, "applied": stats.applied, "messages": stats.messages,
             "latencies_ms": stats.latencies_ms, "published_ms": stats.published_ms}
        )
    )  # fmt: skip
