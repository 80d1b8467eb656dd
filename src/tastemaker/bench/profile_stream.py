"""Benchmarks of profiles and the featured listing (`tastemaker bench profiles`).

- ``inprocess``: `ProfileService.apply` throughput on one core (SQLite store).
- ``streams``: Redis Streams with two `tastemaker worker` processes: drain throughput, then
  event-to-segment-visible latency at a paced 2,000 events/s.
- ``featured``: ``GET /v1/featured`` latency at a paced 200 requests/s over loopback, from a
  client process separate from the server, with a 100,000-item catalog.

Every loop is bounded (event and request counts, timeouts); everything runs on loopback.
"""

from __future__ import annotations

import gc
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tastemaker.config import (
    CacheConfig,
    PostgresStoreConfig,
    RedisBusConfig,
    Settings,
    write_settings,
)
from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.ingest.pseudonymize import create_key
from tastemaker.profiles.service import ProfileService
from tastemaker.workspace import Workspace

CLI = [sys.executable, "-c", "from tastemaker.cli.app import main; main()"]


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    arr = np.asarray(values)
    return {k: round(float(np.percentile(arr, q)), 3) for k, q in
            (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))}  # fmt: skip


def _stored_events(ws: Workspace, users: int, items: int, days: int, seed: int) -> pl.DataFrame:
    """Generate a marketplace, store it (no listeners) and return events as listeners get them."""
    market = generate_marketplace(users=users, items=items, days=days, seed=seed)
    listeners, ws.ingestor.listeners = ws.ingestor.listeners, []
    try:
        ws.ingestor.ingest_items(market.items, "bench")
        events = market.events.filter(pl.col("type") != "impression")
        for start in range(0, events.height, 100_000):
            ws.ingestor.ingest_events(events.slice(start, 100_000), "bench")
    finally:
        ws.ingestor.listeners = listeners
    stored = ws.store.events().drop("seq")
    return stored.with_columns(pl.col("timestamp").dt.epoch("ms"))


def bench_inprocess(
    users: int = 6000, items: int = 5000, days: int = 14, seed: int = 1,
    batches: tuple[tuple[int, bool], ...] = ((1_000, False), (10_000, False), (1_000, True),
                                           (10_000, True)),
) -> dict[str, Any]:  # fmt: skip
    """Profile updates per second in this process, pinned to one core.

    ``events_per_s`` is wall-clock; ``events_per_cpu_s`` divides by this process's CPU time,
    which is what one core delivers when other jobs share the machine. Runs with
    ``gc_freeze`` move surviving objects out of the cyclic collector after every batch, as
    `tastemaker worker` does (full collections over many profile states are costly).
    """
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        try:
            events = _stored_events(ws, users, items, days, seed)
            cpus = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {min(cpus)})
            runs = []
            try:
                for batch, freeze in batches:
                    ws.store.clear_profiles()
                    gc.collect()
                    service = ProfileService(ws.settings, ws.store)
                    service.rules.current()
                    service.catalog.attribute_map()
                    started, cpu = time.perf_counter(), time.process_time()
                    for start in range(0, events.height, batch):
                        service.apply(events.slice(start, batch))
                        if freeze:  # as `tastemaker worker` does after each batch
                            gc.freeze()
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu
                    if freeze:
                        gc.unfreeze()
                    runs.append({"batch": batch, "gc_freeze": freeze,
                                 "seconds": round(seconds, 3),
                                 "events_per_s": round(events.height / seconds),
                                 "cpu_seconds": round(cpu, 3),
                                 "events_per_cpu_s": round(events.height / cpu)})  # fmt: skip
            finally:
                os.sched_setaffinity(0, cpus)
            profiles = ws.store.table_counts()["profiles"]
        finally:
            ws.close()
    return {"events": events.height, "profiles": profiles, "cores": 1,
            "store": "sqlite", "runs": runs,
            "events_per_s": max(r["events_per_s"] for r in runs)}  # fmt: skip


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _streams_workspace(root: Path, redis_url: str, database: str | None) -> tuple[Workspace, str]:
    schema = f"tm_bench_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        workspace=root,
        bus=RedisBusConfig(url=redis_url, stream=f"tmbench:{schema}:events", partitions=4),
        cache=CacheConfig(redis_url=redis_url),
    )
    if database:
        settings.store = PostgresStoreConfig(url=database, schema_name=schema)
    root.mkdir(parents=True, exist_ok=True)
    write_settings(settings)
    create_key(settings.key_path)
    return Workspace.open(root), schema


def _drop_schema(ws: Workspace, schema: str) -> None:
    from sqlalchemy import text

    engine = ws.store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _start_workers(ws: Workspace, tmp: Path, n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` worker processes, partitions split ``i/n``, stats and logs under ``tmp``."""
    workers = []
    for i in range(n):
        log = (tmp / f"w{i}.log").open("wb")
        workers.append(subprocess.Popen(
            [*CLI, "worker", "-w", str(ws.root), "--partitions", f"{i}/{n}", "--batch", "20",
             "--stats-file", str(tmp / f"w{i}.json")],
            stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        log.close()  # the child keeps its own descriptor
    return workers


def _stop_workers(workers: list[subprocess.Popen[bytes]], tmp: Path) -> None:
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(60)
    if os.environ.get("TASTEMAKER_BENCH_DEBUG"):
        for i in range(len(workers)):
            print((tmp / f"w{i}.log").read_text()[-2000:], file=sys.stderr)


def _publish_paced(bus: Any, events: pl.DataFrame, rate: int, seconds: float) -> tuple[int, float]:
    """Publish at ``rate`` events/s (a slice every 10 ms); return events sent and rate."""
    step = max(1, rate // 100)
    started, sent = time.perf_counter(), 0
    for n, start in enumerate(range(0, min(events.height, int(rate * seconds)), step)):
        delay = started + n * step / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        bus.publish(events.slice(start, step))
        sent += min(step, events.height - start)
    return sent, sent / (time.perf_counter() - started)


def _latencies(tmp: Path, workers: int, since_ms: int) -> list[float]:
    """Per-event latencies the workers recorded for events published after ``since_ms``."""
    out: list[float] = []
    for i in range(workers):
        path = tmp / f"w{i}.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        pairs = zip(data.get("published_ms", []), data.get("latencies_ms", []), strict=False)
        out += [v for p, v in pairs if p >= since_ms]
    return out


def bench_streams(
    users: int = 8000, items: int = 5000, days: int = 14, seed: int = 2,
    redis_url: str = "redis://127.0.0.1:6379/15",
    database: str | None = "postgresql://postgres@127.0.0.1:5432/test",
    rate: int = 2_000, latency_seconds: float = 8.0,
) -> dict[str, Any]:  # fmt: skip
    """Two workers on Redis Streams: drain throughput, then latency at ``rate`` events/s."""
    from tastemaker.storage.redis_streams import RedisStreamBus

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        ws, schema = _streams_workspace(tmp / "ws", redis_url, database)
        cfg = ws.settings.bus
        assert isinstance(cfg, RedisBusConfig)
        bus = RedisStreamBus(cfg)
        workers: list[subprocess.Popen[bytes]] = []
        idle = lambda: bus.lag() == 0 and bus.pending() == 0  # noqa: E731
        try:
            events = _stored_events(ws, users, items, days, seed)
            ws.profiles.rules.current()  # version 1 exists before the workers start
            cut = int(events.height * 0.8)
            bulk, paced = events.slice(0, cut), events.slice(cut)
            workers = _start_workers(ws, tmp, 2)
            bus.ensure_groups()
            if not _wait(lambda: _consumers(bus) >= cfg.partitions, 120, 0.05):
                raise RuntimeError("stream workers did not start")
            t0 = time.perf_counter()
            for start in range(0, bulk.height, 1_000):
                bus.publish(bulk.slice(start, 1_000))
            drained = _wait(idle, 600, 0.005)
            bulk_s = time.perf_counter() - t0
            paced_start = int(time.time() * 1000)
            sent, achieved = _publish_paced(bus, paced, rate, latency_seconds)
            _wait(idle, 120, 0.005)
        finally:
            _stop_workers(workers, tmp)
            bus.delete_streams()
            if ws.profiles.fast is not None:
                ws.profiles.fast.clear()
            bus.close()
        lat = _latencies(tmp, len(workers), paced_start)
        profiles = ws.store.table_counts()["profiles"]
        if database:
            _drop_schema(ws, schema)
        ws.close()
    return {
        "workers": 2, "partitions": 4, "store": "postgres" if database else "sqlite",
        "bulk": {"events": bulk.height, "seconds": round(bulk_s, 3), "drained": drained,
                 "events_per_s": round(bulk.height / bulk_s)},
        "paced": {"target_events_per_s": rate, "achieved_events_per_s": round(achieved),
                  "events": sent, "latency_ms": _percentiles(lat), "samples": len(lat)},
        "profiles": profiles,
    }  # fmt: skip


def _consumers(bus: Any) -> int:
    """Partitions that have a registered consumer (workers are up and reading)."""
    n = 0
    for p in range(bus.partitions):
        groups = bus.client.xinfo_groups(bus.stream(p))
        n += any(int(g.get("consumers", 0)) > 0 for g in groups)
    return n


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


FILTERS = ("", "fuel_type:electric", "body_type:suv,price<30000", "price<15000",
           "fuel_type:diesel|petrol", "body_type:hatchback", "fuel_type:electric,body_type:suv",
           "category:car,price>=20000")  # fmt: skip


def bench_featured(
    users: int = 2000, items: int = 100_000, days: int = 7, seed: int = 3,
    rate: int = 200, requests: int = 3_000,
) -> dict[str, Any]:  # fmt: skip
    """``GET /v1/featured`` latency at ``rate`` requests/s from this (client) process."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        market = generate_marketplace(users=users, items=items, days=days, seed=seed)
        ws.ingestor.ingest_items(market.items, "bench")
        events = market.events.filter(pl.col("type") != "impression")
        ws.ingestor.ingest_events(events, "bench")
        raw = market.users["user_id"].to_list()
        with_segments = [u for u in raw if (p := ws.profiles.get(ws.pseudonymizer.one(u)))
                         and p.segments]  # fmt: skip
        ws.close()
        port = _free_port()
        server = subprocess.Popen(
            [*CLI, "serve", "-w", str(Path(tmp) / "ws"), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            if not _wait(lambda: _ready(port), 60, 0.1):
                raise RuntimeError("server did not start")
            rng = np.random.default_rng(seed)
            pool = with_segments + [f"stranger-{i}" for i in range(50)]
            paths = [
                "/v1/featured?" + urllib.parse.urlencode(
                    {"user_id": pool[int(rng.integers(len(pool)))],
                     "filters": FILTERS[int(rng.integers(len(FILTERS)))]})
                for _ in range(requests + 200)
            ]  # fmt: skip
            for path in paths[:200]:  # warm-up
                _get(conn, path)
            lat: list[float] = []
            statuses: dict[int, int] = {}
            personalized = 0
            t0 = time.perf_counter()
            for n, path in enumerate(paths[200:]):
                delay = t0 + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                started = time.perf_counter()
                status, body = _get(conn, path)
                lat.append((time.perf_counter() - started) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
                personalized += b'"personalized":true' in body
            achieved = requests / (time.perf_counter() - t0)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    return {"items": items, "users_with_segments": len(with_segments),
            "target_rps": rate, "achieved_rps": round(achieved, 1), "requests": requests,
            "statuses": {str(k): v for k, v in statuses.items()},
            "personalized_share": round(personalized / requests, 3),
            "latency_ms": _percentiles(lat)}  # fmt: skip


def _ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        return _get(conn, "/healthz")[0] == 200
    except OSError:
        return False
