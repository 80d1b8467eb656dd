"""`tastemaker bench chaos` end to end, short: Redis killed and restarted, a worker killed and
restarted, under ingest + read load with the workers' jobs on (retention every 20 s, a tenth
of the batches older than its cut); every event answered 2xx is stored, published and
applied, every late one deleted, profiles equal a replay, and nothing is answered 5xx but 503.

Runs its own PostgreSQL and Redis (never the shared ones); skipped without their binaries.
"""

from __future__ import annotations

import shutil

import pytest

from tastemaker.bench.chaos import ChaosOptions, run_chaos
from tastemaker.bench.chaos_backends import pg_bindir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.skipif(
    pg_bindir() is None or shutil.which("redis-server") is None,
    reason="needs PostgreSQL's server binaries (initdb, pg_ctl) and redis-server",
)
def test_a_short_run_with_a_redis_kill_and_a_worker_kill_loses_nothing() -> None:
    opts = ChaosOptions(seconds=25, clients=3, rate=40, users=150, items=100, days=3,
                        faults=("redis_kill", "worker_kill"), settle_s=45, jobs=True)  # fmt: skip
    result = run_chaos(opts)

    events = result["events"]
    assert events["answered_2xx"] > 0
    assert events["answered_2xx"] == events["stored"] == events["published"]
    # users who opted out (3 % of the marketplace) build no profile
    assert events["published"] == events["applied"] + events["opted_out_not_applied"]
    assert result["lost"] == {
        "answered_not_stored": 0,
        "stored_not_published": 0,
        "published_not_applied": 0,
        "late_kept_past_retention": 0,
    }
    assert events["late_answered_2xx"] > 0  # sent older than the cut, then deleted
    # the run at the worker's start (the imported days) and at least one more
    assert result["retention"]["runs_deleting_events"] >= 2
    assert result["answers"]["answered_5xx_not_503"] == 0
    assert result["answers"]["connection_failures"] == 0
    assert result["profiles"]["differing_from_replay"] == 0
    assert result["settle"]["settled"] and result["bar_met"] is True
    faults = [t["event"] for t in result["timeline"]][:4]
    assert faults == ["redis: SIGKILL", "redis: restarted (same port, append-only file replayed)",
                      "worker 0: SIGKILL", "worker 0: restarted"]  # fmt: skip
    assert result["kept"] is None
