"""Periodic jobs of `tastemaker worker`: a small scheduler and the list of jobs.

A :class:`Job` is a name, a period and a function of the workspace returning one line for
the log. :func:`worker_jobs` lists them; adding a job is one line there. The scheduler runs
every job once at start, then each again ``every_seconds`` after its previous start; a job
that fails is logged and tried again at its next period (the others go on). The worker runs
the scheduler in its own thread with its own workspace (store connection), or alone with
``tastemaker worker --jobs-only``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tastemaker.monitoring.alerts import AlertLog
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)
#: How often the retrain job asks its trigger (the schedule itself is configuration).
RETRAIN_CHECK_SECONDS = 600.0
#: How often the worker checks drift and online metrics (alerts feed the retrain trigger).
MONITOR_SECONDS = 3600.0
#: How often running bandits are checked (each is rebalanced per its own rebalance_hours).
REBALANCE_CHECK_SECONDS = 600.0


@dataclass(frozen=True)
class Job:
    """A periodic job: ``fn(ws)`` every ``every_seconds``, returning a line for the log."""

    name: str
    every_seconds: float
    fn: Callable[[Workspace], str]


def worker_jobs(ws: Workspace) -> list[Job]:
    """The jobs `tastemaker worker` runs (one line each)."""
    from tastemaker.retraining.triggers import retrain_if_due

    def alerts_since(w: Workspace) -> Callable[[float], int]:
        return lambda ts: len(AlertLog(w.store).since(ts))

    return [
        Job("monitor", MONITOR_SECONDS, monitor_job),
        Job("retrain", RETRAIN_CHECK_SECONDS, lambda w: retrain_if_due(w, alerts_since(w))),
        Job("rebalance", REBALANCE_CHECK_SECONDS, rebalance_job),
        Job("retention", ws.settings.privacy.retention_every_hours * 3600, retention_line),
    ]


def retention_line(ws: Workspace) -> str:
    """Delete events older than ``privacy.retention_days`` (nothing when it is unset)."""
    from tastemaker.privacy.retention import apply_retention

    receipt = apply_retention(ws, actor="worker:retention")
    if receipt.retention_days is None:
        return "retention: off (privacy.retention_days not set)"
    return f"retention: {receipt.total:,} deleted before {receipt.cut}"


def monitor_job(ws: Workspace) -> str:
    """Check drift and online metrics of the active version; alerts go to the alert log."""
    from tastemaker.monitoring.checks import run_monitor

    result = run_monitor(ws)
    drift = "no verdict" if result.drift is None else f"drifted {result.drift.drifted}"
    return f"monitor: {drift}, {len(result.drops)} metric drops, {len(result.alerts)} alerts"


def rebalance_job(ws: Workspace) -> str:
    """Rebalance the running bandits that are due."""
    from tastemaker.experiments.allocation import rebalance_due
    from tastemaker.experiments.store import EXPERIMENTS_DIR, ExperimentStore

    done = rebalance_due(ws.store, ExperimentStore(ws.root / EXPERIMENTS_DIR, check_seconds=0))
    return f"rebalance: {', '.join(r.key for r in done) or 'none due'}"


@dataclass
class JobRun:
    """One run of a job: when it started (scheduler clock), ok or not, and its line."""

    job: str
    started: float
    ok: bool
    message: str


@dataclass
class JobScheduler:
    """Runs due jobs; the clock is injectable (tests pass a fake one).

    Args:
        jobs: the jobs.
        clock: monotonic seconds.
    """

    jobs: Sequence[Job]
    clock: Callable[[], float] = time.monotonic
    _next: dict[str, float] = field(default_factory=dict)

    def run_due(self, ws: Workspace) -> list[JobRun]:
        """Run every job whose time has come (each at most once); return these runs."""
        done = []
        for job in self.jobs:
            now = self.clock()
            if now < self._next.get(job.name, now):
                continue
            self._next[job.name] = now + job.every_seconds
            try:
                run = JobRun(job.name, now, True, job.fn(ws))
                log.info("job %s: %s", job.name, run.message)
            except Exception as exc:  # one failing job must not stop the others
                run = JobRun(job.name, now, False, f"{type(exc).__name__}: {exc}")
                log.exception("job %s failed (next try in %.0f s)", job.name, job.every_seconds)
            done.append(run)
        return done

    def wait_seconds(self) -> float:
        """Seconds until the next job is due (0 when one is due now)."""
        if not self._next:
            return 0.0
        now = self.clock()
        return max(0.0, min(self._next.get(j.name, now) for j in self.jobs) - now)

    def run(
        self, ws: Workspace, stop: threading.Event, on_run: Callable[[JobRun], None] | None = None
    ) -> None:
        """Run due jobs until ``stop`` is set, sleeping until the next one is due."""
        while not stop.is_set():
            for run in self.run_due(ws):
                if on_run is not None:
                    on_run(run)
            stop.wait(max(self.wait_seconds(), 0.05))


def run_jobs_thread(
    root: Path, stop: threading.Event, on_run: Callable[[JobRun], None] | None = None
) -> threading.Thread:
    """Start the scheduler in a thread with its own workspace at ``root``; it closes the
    workspace when ``stop`` is set."""

    def target() -> None:
        ws = Workspace.open(root)
        try:
            JobScheduler(worker_jobs(ws)).run(ws, stop, on_run)
        finally:
            ws.close()

    thread = threading.Thread(target=target, name="worker-jobs", daemon=True)
    thread.start()
    return thread
