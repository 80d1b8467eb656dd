"""`tastemaker serve --workers 2`: /metrics counts the requests of every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tastemaker.bench.server import free_port, http_get
from tastemaker.workspace import Workspace

REQUESTS = 40


def _healthz_count(port: int) -> float:
    """Requests to /healthz answered 200, as one scrape of /metrics reports them."""
    status, body = http_get(port, "/metrics")
    assert status == 200
    prefix = 'tastemaker_requests_total{endpoint="/healthz",method="GET",status="200"} '
    lines = [x for x in body.decode().splitlines() if x.startswith(prefix)]
    return sum(float(x.split()[-1]) for x in lines)


def test_metrics_add_up_the_requests_of_all_workers(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    port = free_port()
    cmd = [sys.executable, "-m", "tastemaker", "serve", "-w", str(tmp_path / "ws"),
           "--port", str(port), "--workers", "2"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while http_get(port, "/readyz")[0] != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        for _ in range(REQUESTS):
            assert http_get(port, "/healthz")[0] == 200
        scrapes = [_healthz_count(port) for _ in range(8)]  # each may reach another worker
        assert scrapes == [REQUESTS] * 8
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
