"""`tastemaker bench mixed` end to end, short and slow-paced: two API processes and two stream
workers on a PostgreSQL and a Redis of its own, keys on; the JSON's accounting holds (every
event answered 2xx is stored or dead-lettered, requests add up by kind).

Runs its own PostgreSQL and Redis (never the shared ones); skipped without their binaries.
"""

from __future__ import annotations

import shutil

import pytest

from tastemaker.bench.chaos_backends import pg_bindir
from tastemaker.bench.mixed import MixedOptions, run_mixed

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.skipif(
    pg_bindir() is None or shutil.which("redis-server") is None,
    reason="needs PostgreSQL's server binaries (initdb, pg_ctl) and redis-server",
)
def test_a_short_mixed_run_accounts_for_every_event_and_request() -> None:
    opts = MixedOptions(rate=30, seconds=6, clients=3, batch=4, users=120, items=80, days=3,
                        settle_s=60)  # fmt: skip
    result = run_mixed(opts)

    requests, events = result["requests"], result["events"]
    assert set(requests["by_kind"]) == {"ingest", "recommendations", "featured"}
    # each kind was requested (how many is the machine's pace: a count here would be a timed
    # assertion, failing on a loaded machine; the rate is judged by rate_met below)
    assert all(n > 0 for n in requests["by_kind"].values()), requests["by_kind"]
    for kind, statuses in requests["statuses"].items():
        assert sum(statuses.values()) == requests["by_kind"][kind]
    assert requests["errors"] == 0, requests["statuses"]
    assert set(requests["latency_ms_2xx"]["ingest"]) == {"p50", "p95", "p99", "max"}
    assert events["answered_2xx"] == 4 * requests["statuses"]["ingest"]["200"]
    assert events["answered_2xx"] == events["stored"] + events["dead_lettered"]
    assert events["answered_not_stored_nor_dead_lettered"] == 0
    assert events["no_event_lost"] is True
    assert result["drain"]["settled"] and result["correct"] is True
    reached = requests["achieved_rps"] >= 0.95 * 30
    assert result["rate_met"] is reached and result["bar_met"] is reached
