"""The processes of a chaos run and the faults done to them.

A throwaway PostgreSQL and Redis (`chaos_backends`), two API processes (one uvicorn each, on
ports of their own, the clients spread evenly over them) and two ``tastemaker worker``
processes owning half the partitions each. Their output goes to ``<root>/logs``.
`ChaosRig.stop` ends every process it started, thawing paused backends first.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tastemaker.bench.chaos_backends import ThrowawayPostgres, ThrowawayRedis
from tastemaker.bench.server import start_server

CLI = [sys.executable, "-c", "from tastemaker.cli.app import main; main()"]
WORKERS = 2


class ChaosRig:
    """Starts, breaks and stops the processes of one run; notes each fault in `timeline`
    (seconds since `t0`, the start of the load)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pg: ThrowawayPostgres | None = None
        self.redis: ThrowawayRedis | None = None
        self.apis: list[subprocess.Popen[bytes]] = []
        self.api_ports: list[int] = []
        self.api_ready_s = 0.0
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.workspace: Path | None = None
        self.t0 = time.monotonic()
        self.timeline: list[dict[str, object]] = []

    def note(self, event: str) -> None:
        """Record ``event`` at the current time (seconds since the load started)."""
        self.timeline.append({"at_s": round(time.monotonic() - self.t0, 2), "event": event})

    # --- starting --------------------------------------------------------------------------
    def start_backends(self) -> tuple[ThrowawayPostgres, ThrowawayRedis]:
        """Initialize and start PostgreSQL and Redis on free ports."""
        self.pg = ThrowawayPostgres()
        self.pg.start()
        self.redis = ThrowawayRedis(self.root / "redis")
        self.redis.start()
        return self.pg, self.redis

    def start_api(self, workspace: Path, processes: int = 2) -> list[int]:
        """``processes`` API servers, one uvicorn process each on a port of its own; return
        the ports (`api_ports`: clients spread over them evenly).

        Not one uvicorn ``--workers N`` on a shared socket: there the process whose event loop
        woke first accepted every pending connection, and the 32 keep-alive connections of
        the mixed benchmark split 22 to 10, so one process served two thirds of the load.
        """
        self.workspace = workspace
        t0 = time.perf_counter()
        for _ in range(processes):
            proc, port, _ = start_server(workspace, 1, log=self.logs / "api.log")
            self.apis.append(proc)
            self.api_ports.append(port)
        self.api_ready_s = time.perf_counter() - t0
        return self.api_ports

    def start_worker(self, number: int) -> None:
        """Stream worker ``number`` (partitions ``number/WORKERS``), its log appended."""
        assert self.workspace is not None, "start_api names the workspace first"
        with (self.logs / f"worker-{number}.log").open("ab") as out:
            self.workers[number] = subprocess.Popen(
                [*CLI, "worker", "-w", str(self.workspace), "--partitions",
                 f"{number}/{WORKERS}"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    # --- faults ----------------------------------------------------------------------------
    def redis_pause(self, seconds: float) -> None:
        """Freeze Redis for ``seconds``."""
        assert self.redis is not None
        self.note("redis: SIGSTOP")
        self.redis.pause()
        time.sleep(seconds)
        self.redis.resume()
        self.note("redis: SIGCONT")

    def redis_kill(self, seconds: float) -> None:
        """SIGKILL Redis; restart it ``seconds`` later on its port and folder."""
        assert self.redis is not None
        self.note("redis: SIGKILL")
        self.redis.kill()
        time.sleep(seconds)
        self.redis.start()
        self.note("redis: restarted (same port, append-only file replayed)")

    def postgres_pause(self, seconds: float) -> None:
        """Freeze every PostgreSQL process for ``seconds``."""
        assert self.pg is not None
        self.note("postgres: SIGSTOP (postmaster and backends)")
        self.pg.pause()
        time.sleep(seconds)
        self.pg.resume()
        self.note("postgres: SIGCONT")

    def postgres_kill(self, seconds: float) -> None:
        """Stop PostgreSQL as a crash would; start it ``seconds`` later (crash recovery)."""
        assert self.pg is not None
        self.note("postgres: pg_ctl stop -m immediate")
        self.pg.stop()
        time.sleep(seconds)
        self.pg.start()
        self.note("postgres: started (crash recovery)")

    def worker_kill(self, seconds: float) -> None:
        """SIGKILL worker 0; start it again ``seconds`` later."""
        self.note("worker 0: SIGKILL")
        proc = self.workers[0]
        proc.kill()
        proc.wait(10)
        time.sleep(seconds)
        self.start_worker(0)
        self.note("worker 0: restarted")

    def faults(self) -> dict[str, Callable[[float], None]]:
        """Fault name -> the method doing it (argument: seconds of outage)."""
        return {"redis_pause": self.redis_pause, "redis_kill": self.redis_kill,
                "postgres_pause": self.postgres_pause, "postgres_kill": self.postgres_kill,
                "worker_kill": self.worker_kill}  # fmt: skip

    # --- stopping --------------------------------------------------------------------------
    def stop(self, keep: bool = False) -> None:
        """End every process started here (SIGTERM, then SIGKILL after 30 s), then the
        backends; their folders stay when ``keep``."""
        for backend in (self.redis, self.pg):  # a paused backend would hang every shutdown
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.resume()
        procs = [*self.apis, *self.workers.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.pg is not None:
            self.pg.remove(keep)
        if self.redis is not None:
            self.redis.remove(keep)
