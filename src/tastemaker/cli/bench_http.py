"""HTTP ingestion load test: one server process, batches over loopback from other processes."""

from __future__ import annotations

import http.client
import multiprocessing as mp
import os
import time
from pathlib import Path

import orjson

from tastemaker.cli.bench_server import start_server
from tastemaker.workspace import Workspace

BATCH = 500
REDIS_URL = "redis://127.0.0.1:6379/15"


def _drop_streams(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _client(port: int, worker: int, seconds: float, queue: mp.Queue) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = errors = batches = 0
    deadline = time.time() + seconds
    latencies: list[float] = []
    while time.time() < deadline and batches < 1_000_000:
        base = (worker * 1_000_000 + batches) * BATCH
        body = orjson.dumps(
            [
                {
                    "event_id": f"h{base + i}",
                    "user_id": f"u{(base + i) % 20000}",
                    "type": "view",
                    "item_id": f"i{(base + i) % 5000}",
                    "value": 12.5,
                    "timestamp": "2026-01-01T10:00:00Z",
                    "context": {"device": "mobile", "position": i % 20},
                }
                for i in range(BATCH)
            ]
        )
        t0 = time.perf_counter()
        conn.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        latencies.append(time.perf_counter() - t0)
        batches += 1
        if response.status != 200 or orjson.loads(payload)["accepted"] != BATCH:
            errors += 1
        else:
            sent += BATCH
    queue.put((sent, errors, latencies))


def http_ingest(
    ws_dir: Path, seconds: float = 30.0, clients: int = 2, bus: str = "inprocess"
) -> dict[str, float | int | str]:
    """Serve a fresh SQLite workspace and post batches of 500 events for ``seconds``.

    Args:
        ws_dir: folder for the workspace.
        seconds: how long the clients send.
        clients: client processes, each with one keep-alive connection.
        bus: ``inprocess`` (profiles updated inside each request, the embedded default) or
            ``redis`` (events published to Redis Streams for `tastemaker worker`; the stream
            keys are deleted afterwards).
    """
    Workspace.init(ws_dir).close()
    stream = f"tm-bench-{os.getpid()}-{int(time.time())}"
    env: dict[str, str] = {}
    if bus == "redis":
        env = {
            "TASTEMAKER__BUS__TYPE": "redis",
            "TASTEMAKER__BUS__URL": REDIS_URL,
            "TASTEMAKER__BUS__STREAM": stream,
        }
    server, port, _ = start_server(ws_dir, 1, env)
    try:
        queue: mp.Queue = mp.Queue()
        procs = [mp.Process(target=_client, args=(port, w, seconds, queue)) for w in range(clients)]
        started = time.perf_counter()
        for p in procs:
            p.start()
        results = [queue.get() for _ in procs]
        elapsed = time.perf_counter() - started
        for p in procs:
            p.join()
    finally:
        server.terminate()
        server.wait(timeout=10)
        if bus == "redis":
            _drop_streams(stream)
    sent = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[2])
    return {
        "bus": bus,
        "seconds": round(elapsed, 1),
        "events": sent,
        "errors": sum(r[1] for r in results),
        "events_per_s": round(sent / elapsed),
        "batch": BATCH,
        "p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else 0.0,
        "p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 1) if lat else 0.0,
    }
