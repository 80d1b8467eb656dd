"""Issue #12 point 3: a stream worker survives a Redis outage, reports it, and catches up.

A throwaway ``redis-server`` (its own port and folder, append-only file) is killed with
SIGKILL while events keep arriving and restarted later; the shared Redis is never touched.
The worker stays up, says so on /metrics and in its log, and ends with the profiles a
rebuild computes from the log, events stored during the outage included.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import redis

from tastemaker.bench.chaos_backends import ThrowawayRedis
from tastemaker.bench.server import free_port
from tastemaker.config import RedisBusConfig, load_settings, write_settings
from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CLI = [sys.executable, "-c", "from tastemaker.cli.app import main; main()"]


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except (OSError, redis.RedisError):
            pass
        time.sleep(0.05)
    return False


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    try:
        server = ThrowawayRedis(tmp_path / "redis")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    server.start()
    yield server
    server.remove()


def _metric(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not on /metrics")


def _ingest(ws: Workspace, events: pl.DataFrame) -> None:
    for start in range(0, events.height, 40):
        ws.ingestor.ingest_events(events.slice(start, 40), "api")


def test_a_worker_survives_a_redis_outage_and_catches_up(
    tmp_path: Path, throwaway_redis: ThrowawayRedis
) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    settings = load_settings(root)
    settings.bus = RedisBusConfig(url=throwaway_redis.url, partitions=2)
    write_settings(settings)
    ws = Workspace.open(root)
    market = generate_marketplace(users=120, items=150, days=2, seed=4)
    events = market.events.filter(pl.col("type") != "impression")
    third = events.height // 3
    ws.ingestor.ingest_items(market.items, "items")
    port = free_port()
    worker = subprocess.Popen(
        [*CLI, "worker", "-w", str(root), "--metrics-port", str(port), "--retry-max", "0.5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    cfg = ws.settings.bus
    assert isinstance(cfg, RedisBusConfig)
    bus = RedisStreamBus(cfg)
    drained = lambda: bus.lag() == 0 and bus.pending() == 0  # noqa: E731
    try:
        assert _wait(lambda: _metric(port, "tastemaker_worker_up") == 1.0, 60), "no metrics"
        _ingest(ws, events.slice(0, third))
        assert _wait(drained, 60)

        throwaway_redis.kill()
        _ingest(ws, events.slice(third, third))  # stored; publishing waits for Redis
        assert _wait(lambda: _metric(port, "tastemaker_worker_up") == 0.0, 30)
        assert worker.poll() is None, "the worker died with Redis"

        throwaway_redis.start()
        _ingest(ws, events.slice(2 * third))
        assert ws.outbox is not None
        assert _wait(lambda: ws.outbox.pending() == 0, 60), "events stored were not published"  # type: ignore[union-attr]
        assert _wait(lambda: drained() and _metric(port, "tastemaker_worker_up") == 1.0, 60)
        # the gauges are refreshed once a second
        assert _wait(lambda: _metric(port, "tastemaker_worker_unpublished_events") == 0.0, 30)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
        bus.close()
    log = err.decode()
    assert worker.returncode == 0, log
    assert "down: ConnectionError" in log and "up again" in log

    assert ws.store.count_events() == events.height
    live = {k: r.state for k, r in ws.store.load_profiles().items()}
    ws.profiles.rebuild()
    rebuilt = {k: r.state for k, r in ws.store.load_profiles().items()}
    ws.close()
    assert len(live) > 30
    assert sorted(k for k in live if live[k] != rebuilt.get(k)) == []
    assert live.keys() == rebuilt.keys()
