"""HTTP ingestion load test: one server process, batches over loopback from other processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path

import orjson

from tastemaker.bench.server import start_server
from tastemaker.workspace import Workspace

BATCH = 500
REDIS_URL = "redis://127.0.0.1:6379/15"


def _drop_streams(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


#: Placeholders in the body template: the request's number (unique event ids) and its
#: number modulo 40 (so users cycle over 40 x BATCH = 20,000 ids).
_SLOT = b"#########"
_USERS = b"&&"


def _template() -> bytes:
    """One batch as JSON with `_SLOT` where each request puts its number (unique event ids)."""
    events = [
        {
            "event_id": f"h{_SLOT.decode()}-{i}",
            "user_id": f"u{_USERS.decode()}-{i}",
            "type": "view",
            "item_id": f"i{i * 7 % 5000}",
            "value": 12.5,
            "timestamp": "2026-01-01T10:00:00Z",
            "context": {"device": "mobile", "position": i % 20},
        }
        for i in range(BATCH)
    ]
    return orjson.dumps(events)


def _request(port: int, body: bytes) -> bytes:
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    port: int, first: int, step: int, deadline: float, template: bytes
) -> tuple[int, int, list[float]]:
    """One keep-alive connection posting batches until ``deadline``; (sent, errors, latencies)."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = errors = 0
    latencies: list[float] = []
    number = first
    while time.perf_counter() < deadline:
        body = template.replace(_SLOT, b"%09d" % number).replace(_USERS, b"%02d" % (number % 40))
        number += step
        t0 = time.perf_counter()
        writer.write(_request(port, body))
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        payload = await reader.readexactly(length)
        latencies.append(time.perf_counter() - t0)
        ok = status_line.split(b" ")[1:2] == [b"200"]
        if ok and orjson.loads(payload)["accepted"] == BATCH:
            sent += BATCH
        else:
            errors += 1
    writer.close()
    return sent, errors, latencies


def _client(port: int, connections: int, seconds: float, queue: mp.Queue) -> None:
    """The load generator process: ``connections`` keep-alive connections on one event loop."""
    import asyncio

    template = _template()

    async def main() -> list[tuple[int, int, list[float]]]:
        deadline = time.perf_counter() + seconds
        return await asyncio.gather(
            *[_connection(port, c, connections, deadline, template) for c in range(connections)]
        )

    results = asyncio.run(main())
    queue.put(
        (sum(r[0] for r in results), sum(r[1] for r in results), [x for r in results for x in r[2]])
    )


def http_ingest(
    ws_dir: Path, seconds: float = 30.0, connections: int = 32, bus: str = "inprocess"
) -> dict[str, float | int | str]:
    """Serve a fresh SQLite workspace and post batches of 500 events for ``seconds``.

    Args:
        ws_dir: folder for the workspace.
        seconds: how long the clients send.
        connections: concurrent keep-alive connections (one load generator process sends
            pre-encoded bodies over all of them, as many shop frontends would).
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
        proc = mp.Process(target=_client, args=(port, connections, seconds, queue))
        started = time.perf_counter()
        proc.start()
        sent, errors, lat = queue.get()
        elapsed = time.perf_counter() - started
        proc.join()
    finally:
        server.terminate()
        server.wait(timeout=10)
        if bus == "redis":
            _drop_streams(stream)
    lat = sorted(lat)
    return {
        "bus": bus,
        "profiles": "updated in each request" if bus == "inprocess" else "left to stream workers",
        "server_processes": 1,
        "connections": connections,
        "seconds": round(elapsed, 1),
        "events": sent,
        "errors": errors,
        "events_per_s": round(sent / elapsed),
        "batch": BATCH,
        "p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else 0.0,
        "p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 1) if lat else 0.0,
    }
