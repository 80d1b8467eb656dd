"""Open-loop HTTP load for `tastemaker bench serve`: a fixed request rate over loopback.

Runs in its own process. Requests are scheduled at ``rate`` per second on keep-alive
connections (raw HTTP/1.1 over asyncio); latency counts from the scheduled send time, so
queueing in the client or server is never hidden (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class LoadResult:
    """Latencies (seconds, from the scheduled time) and error count of one run."""

    latencies: list[float]
    errors: int
    sent: int
    seconds: float

    def summary(self) -> dict[str, float | int]:
        """p50 / p90 / p99 / max in ms, achieved rate, errors."""
        lat = np.asarray(self.latencies) * 1000 if self.latencies else np.zeros(1)
        return {
            "requests": self.sent,
            "errors": self.errors,
            "achieved_rps": round(len(self.latencies) / max(self.seconds, 1e-9), 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p90_ms": round(float(np.percentile(lat, 90)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "max_ms": round(float(lat.max()), 2),
        }


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _run(port: int, paths: list[str], rate: float, connections: int) -> LoadResult:
    """Send at ``rate``; requests still queued 10 s after the last is due count as errors."""
    queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    give_up = time.perf_counter() + 0.2 + len(paths) / rate + 10.0
    latencies: list[float] = []
    errors = 0

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return None

    async def worker() -> None:
        nonlocal errors
        conn = await connect()
        while (item := await queue.get()) is not None:
            scheduled, path = item
            if time.perf_counter() > give_up:
                errors += 1  # never sent: the server fell too far behind
                continue
            if conn is None:
                errors += 1
                conn = await connect()
                continue
            try:
                status = await asyncio.wait_for(_request(*conn, path), 5.0)
                latencies.append(time.perf_counter() - scheduled)
                errors += status != 200
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn[1].close()
                conn = await connect()
        if conn is not None:
            conn[1].close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, path))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return LoadResult(latencies, errors, len(paths), time.perf_counter() - start)


def _child(port: int, paths: list[str], rate: float, connections: int, out: mp.Queue) -> None:
    result = asyncio.run(_run(port, paths, rate, connections))
    out.put((result.latencies, result.errors, result.sent, result.seconds))


def run_load(port: int, paths: list[str], rate: float, connections: int = 32) -> LoadResult:
    """Send ``paths`` at ``rate`` per second from a separate process; wait for the result."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(port, paths, rate, connections, out), daemon=True)
    proc.start()
    try:
        latencies, errors, sent, seconds = out.get(timeout=len(paths) / rate + 60)
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
    return LoadResult(latencies, errors, sent, seconds)
