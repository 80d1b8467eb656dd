"""Starting a tastemaker API server in a child process for the HTTP benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``path`` on the local server; (status, body), status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def start_server(
    workspace: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
    log: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start uvicorn on ``workspace``; return the process, its port and seconds until ready.

    Its output goes to ``log`` (appended) when given, else to this process's.

    Raises:
        RuntimeError: ``/readyz`` did not answer 200 within ``timeout`` seconds.
    """
    port = free_port()
    child_env = dict(os.environ, TASTEMAKER_WORKSPACE=str(workspace), **(env or {}))
    cmd = [
        sys.executable, "-m", "uvicorn", "tastemaker.serving.main:app_factory", "--factory",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
        "--workers", str(workers),
    ]  # fmt: skip
    t0 = time.perf_counter()
    if log is None:
        proc = subprocess.Popen(cmd, env=child_env)
    else:
        with log.open("ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, env=child_env, stdout=out, stderr=subprocess.STDOUT)
    while time.perf_counter() - t0 < timeout:
        if http_get(port, "/readyz", 10.0)[0] == 200:
            return proc, port, time.perf_counter() - t0
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"the server did not become ready within {timeout:.0f} s")
