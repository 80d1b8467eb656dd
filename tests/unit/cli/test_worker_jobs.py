"""The worker's job scheduler on a fake clock."""

from __future__ import annotations

import threading
from typing import Any

from tastemaker.cli.worker_jobs import Job, JobScheduler, worker_jobs

WS: Any = None  # the jobs here do not touch a workspace


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _job(name: str, every: float, calls: list[str], fail: bool = False) -> Job:
    def fn(_ws: Any) -> str:
        calls.append(name)
        if fail:
            raise RuntimeError(f"{name} broke")
        return f"{name} done"

    return Job(name, every, fn)


def test_jobs_run_at_start_then_every_period() -> None:
    clock, calls, runs = Clock(), [], []
    s = JobScheduler([_job("fast", 10, calls), _job("slow", 60, calls)], clock)
    runs += s.run_due(WS)
    assert [r.job for r in runs] == ["fast", "slow"]
    assert s.wait_seconds() == 10
    clock.t += 9.9
    assert s.run_due(WS) == []
    clock.t += 0.1
    runs += s.run_due(WS)
    assert [r.job for r in runs[2:]] == ["fast"]
    clock.t += 50
    runs += s.run_due(WS)
    assert [r.job for r in runs[3:]] == ["fast", "slow"]
    assert calls == ["fast", "slow", "fast", "fast", "slow"]
    assert all(r.ok and r.message.endswith("done") for r in runs)


def test_a_failing_job_is_logged_and_retried_while_the_others_go_on() -> None:
    clock, calls = Clock(), []
    s = JobScheduler([_job("bad", 5, calls, fail=True), _job("good", 5, calls)], clock)
    runs = s.run_due(WS)
    assert [(r.job, r.ok) for r in runs] == [("bad", False), ("good", True)]
    assert runs[0].message == "RuntimeError: bad broke"
    clock.t += 5
    assert len(s.run_due(WS)) == 2


def test_run_stops_when_asked() -> None:
    calls: list[str] = []
    stop = threading.Event()
    seen = []

    def on_run(run: Any) -> None:
        seen.append(run.job)
        stop.set()

    JobScheduler([_job("once", 3600, calls)]).run(WS, stop, on_run)
    assert seen == ["once"] and calls == ["once"]


def test_the_worker_runs_the_retrain_job(tmp_path: Any) -> None:
    from tastemaker.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    try:
        jobs = worker_jobs(ws)
        assert [j.name for j in jobs] == ["monitor", "retrain", "rebalance", "retention"]
        monitor, retrain, rebalance, retention = (j.fn for j in jobs)
        # no live version yet: no drift verdict, nothing to guard, so nothing is trained
        assert monitor(ws).startswith("monitor: no verdict, 0 metric drops, 0 alerts")
        assert retrain(ws).startswith("not due: no live version")
        assert rebalance(ws) == "rebalance: none due"
        assert retention(ws) == "retention: off (privacy.retention_days not set)"
    finally:
        ws.close()
