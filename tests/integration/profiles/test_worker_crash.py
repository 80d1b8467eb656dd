"""A worker killed with SIGKILL mid-stream and restarted ends with the profiles of a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import pytest
from redis_helpers import cleanup, redis_workspace

from tastemaker.config import RedisBusConfig
from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.profiles.service import ProfileService
from tastemaker.storage.redis_streams import RedisStreamBus
from tastemaker.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CLI = [sys.executable, "-c", "from tastemaker.cli.app import main; main()"]


def _start_worker(ws: Workspace) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, "worker", "-w", str(ws.root), "--batch", "1", "--consumer", "crash-test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait(predicate: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def _comparable(text: str) -> dict[str, object]:
    state = orjson.loads(text)
    state["aff"] = [{k: round(v, 6) for k, v in t.items()} for t in state["aff"]]
    return state


@pytest.mark.parametrize("partitions", [1, 2])
def test_sigkill_mid_stream_then_restart_equals_a_clean_run(
    tmp_path: Path, partitions: int
) -> None:
    """With one partition the stream has the log's order (identity stitching included); with
    several, a visitor's events before login may interleave with the user's, so that case
    uses logged-in traffic only."""
    ws = redis_workspace(tmp_path / "ws", partitions=partitions)
    bus_cfg = ws.settings.bus
    assert isinstance(bus_cfg, RedisBusConfig)
    bus = RedisStreamBus(bus_cfg)
    try:
        market = generate_marketplace(users=300, items=400, days=3, seed=11)
        ws.ingestor.ingest_items(market.items, "market")
        events = market.events
        if partitions > 1:
            events = events.filter(pl.col("user_id").is_not_null() & (pl.col("type") != "identify"))
        for start in range(0, events.height, 20):  # many small stream entries
            ws.ingestor.ingest_events(events.slice(start, 20), "market")
        worker = _start_worker(ws)
        started = _wait(lambda: ws.store.table_counts()["profiles"] >= 20, timeout=60)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        assert started, worker.stderr.read().decode() if worker.stderr else "no output"
        bus.ensure_groups()
        assert bus.lag() + bus.pending() > 0, "the worker finished before it was killed"

        restarted = _start_worker(ws)
        done = _wait(lambda: bus.lag() == 0 and bus.pending() == 0, timeout=120)
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(20)
        assert done, "the restarted worker did not drain the stream"
        after_crash = {k: _comparable(r.state) for k, r in ws.store.load_profiles().items()}

        clean = ProfileService(ws.settings, ws.store)  # every event once, from the log
        assert clean.rebuild() == len(after_crash)
        rebuilt = {k: _comparable(r.state) for k, r in ws.store.load_profiles().items()}
        assert rebuilt == after_crash
    finally:
        bus.close()
        cleanup(ws)
        ws.close()
