"""`tastemaker bench mixed`: ingest + recommendations + featured at a target rate against
PostgreSQL and Redis, with two API processes and two stream workers, keys and limits on.

The processes are the chaos rig's (`chaos_rig`), without the faults: a PostgreSQL and a
Redis started for the run on free ports with data in temporary folders (so no data of the
machine's shared servers is ever touched), a workspace on them with a small marketplace and
a promoted ALS model, requests without a key refused and one key (ingest + read) sent by
every client. ``--clients`` threads pace ``--rate`` requests per second over ``--seconds``,
each request a batch of events, a recommendation list or a featured listing in the shares
given. Once the load is over and the workers have drained, the run counts:

- answers per kind, errors (any answer but 2xx, and requests without an answer), the
  achieved rate, p50 / p95 / p99 latency of the 2xx answers per kind (from the send);
- events answered 2xx against events stored plus events dead-lettered: "no event lost"
  holds when they are equal.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from tastemaker.bench.chaos import ChaosOptions, prepare_workspace, settled_backlog
from tastemaker.bench.chaos_load import (
    EVENTS,
    READS,
    Load,
    LoadPlan,
    Tally,
    latency_percentiles,
)
from tastemaker.bench.chaos_rig import WORKERS, ChaosRig
from tastemaker.bench.machine import machine_facts

KINDS = {EVENTS: "ingest", READS[0]: "recommendations", READS[1]: "featured"}


@dataclass
class MixedOptions:
    """One run: rate, length, clients, the share of ingest requests, batch and data size."""

    rate: float = 300.0
    seconds: float = 600.0
    clients: int = 32
    ingest_share: float = 1 / 3
    batch: int = 5
    seed: int = 1
    users: int = 2000
    items: int = 1000
    days: int = 7
    settle_s: float = 300.0
    keep: bool = False


def _requests(tally: Tally, seconds: float) -> dict[str, Any]:
    """Requests and errors by kind, achieved rate and latency percentiles."""
    by_kind: dict[str, Counter[str]] = {}
    for (endpoint, status), n in tally.statuses.items():
        by_kind.setdefault(KINDS[endpoint], Counter())[status] += n
    total = sum(sum(c.values()) for c in by_kind.values())
    errors = {k: sum(n for s, n in c.items() if not s.startswith("2")) for k, c in by_kind.items()}
    return {
        "by_kind": {k: sum(c.values()) for k, c in sorted(by_kind.items())},
        "statuses": {k: dict(sorted(c.items())) for k, c in sorted(by_kind.items())},
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "achieved_rps": round(total / seconds, 1),
        "latency_ms_2xx": {
            KINDS[e]: latency_percentiles(v) for e, v in tally.latencies_ms.items() if v
        },
    }


def _accounting(root: Path, tally: Tally, prefix: str) -> dict[str, Any]:
    """Events answered 2xx, stored and dead-lettered (those of this run, by id prefix)."""
    import polars as pl

    from tastemaker.workspace import Workspace

    ws = Workspace.open(root)
    try:
        log = ws.store.events().select("event_id")
        stored = set(log.filter(pl.col("event_id").str.starts_with(prefix))["event_id"])
        dead = {d.event_id for d in ws.store.dead_letters(include_replayed=True)
                if d.event_id and d.event_id.startswith(prefix)}  # fmt: skip
    finally:
        ws.close()
    answered = tally.answered
    return {
        "sent": len(tally.sent),
        "answered_2xx": len(answered),
        "stored": len(stored),
        "dead_lettered": len(dead),
        "answered_not_stored_nor_dead_lettered": len(answered - stored - dead),
        "stored_without_2xx": len(stored - answered),
        "no_event_lost": len(answered) == len(stored | dead) and not answered - stored - dead,
    }


def _start(rig: ChaosRig, opts: MixedOptions) -> dict[str, Any]:
    """Backends, the workspace, two API processes and two workers, idle; the data."""
    pg, redis = rig.start_backends()
    ws = rig.root / "ws"
    chaos = ChaosOptions(users=opts.users, items=opts.items, days=opts.days, seed=opts.seed)
    data = prepare_workspace(ws, pg.url, redis.url, chaos)
    rig.start_api(ws, processes=2)
    for n in range(WORKERS):
        rig.start_worker(n)
    before = settled_backlog(ws, 300)
    if not before["settled"]:
        raise RuntimeError(f"the workers did not consume the imported events: {before}")
    data["backends"] = {"postgres": pg.version(), "redis": redis.version()}
    return data


#: The target rate counts as reached at this share of it (pacing loses a little to jitter).
RATE_MET_SHARE = 0.95


def run_mixed(opts: MixedOptions) -> dict[str, Any]:
    """One run; the JSON-ready result. Every process it started is stopped and its
    temporary folders removed (unless ``opts.keep``), whatever happens."""
    load_before = os.getloadavg()
    rig = ChaosRig(Path(tempfile.mkdtemp(prefix="tm-mixed-")))
    try:
        data = _start(rig, opts)
        prefix = f"mixed-{uuid.uuid4().hex[:8]}-"
        plan = LoadPlan(ports=rig.api_ports, users=data["users"], items=data["items"],
                        seconds=opts.seconds, clients=opts.clients, rate=opts.rate,
                        batch=opts.batch, write_share=opts.ingest_share, seed=opts.seed,
                        prefix=prefix, api_key=data["api_key"], reads=READS[:2])  # fmt: skip
        load = Load(plan)
        try:
            t0 = load.start()
            tally = load.join()
            took = time.monotonic() - t0
        finally:
            load.abort()
        drained = settled_backlog(rig.root / "ws", opts.settle_s)
        events = _accounting(rig.root / "ws", tally, prefix)
    finally:
        rig.stop(opts.keep)
        if not opts.keep:
            shutil.rmtree(rig.root, ignore_errors=True)
    requests = _requests(tally, min(took, opts.seconds))
    correct = requests["errors"] == 0 and events["no_event_lost"] and drained["settled"]
    # the clients skip the slots they miss: a saturated machine shows as a lower rate
    rate_met = requests["achieved_rps"] >= RATE_MET_SHARE * opts.rate
    return {
        "benchmark": "mixed",
        "bar_met": correct and rate_met,
        "correct": correct,
        "rate_met": rate_met,
        "requests": requests, "events": events,
        "drain": {"settled": drained["settled"], "seconds": drained["seconds"]},
        "setup": {"api_processes": 2, "stream_workers": WORKERS, "store": "postgres",
                  "bus": "redis", "access": "keys required (one ingest+read key), "
                  "default rate and request limits", **data["backends"], **data["info"]},
        "load": {"rate_rps": opts.rate, "seconds": opts.seconds, "clients": opts.clients,
                 "ingest_share": round(opts.ingest_share, 3), "batch": opts.batch,
                 "seed": opts.seed},
        "machine": machine_facts(load_before),
    }  # fmt: skip


def bench_mixed(
    rate: Annotated[float, typer.Option(help="Requests per second over all clients.")] = 300.0,
    seconds: Annotated[float, typer.Option(help="Length of the load.")] = 600.0,
    clients: Annotated[int, typer.Option(help="Client threads.")] = 32,
    batch: Annotated[int, typer.Option(help="Events per POST /v1/events.")] = 5,
    ingest_share: Annotated[float, typer.Option(help="Share of requests that ingest.")] = 1 / 3,
    store: Annotated[str, typer.Option(help="The store: postgres (the only one here).")] = (
        "postgres"
    ),
    bus: Annotated[str, typer.Option(help="The event bus: redis (the only one here).")] = "redis",
    seed: Annotated[int, typer.Option(help="Seed of the data and the clients.")] = 1,
    keep: Annotated[bool, typer.Option(help="Keep the temporary folders (data, logs).")] = False,
) -> None:
    """Ingest + recommendations + featured at a target rate on PostgreSQL and Redis (two API
    processes, two stream workers, keys on); errors, p50/p95/p99 and no event lost."""
    if store != "postgres" or bus != "redis":
        raise typer.BadParameter("the mixed benchmark runs on --store postgres --bus redis")
    if not 0 < ingest_share < 1:
        raise typer.BadParameter(f"--ingest-share {ingest_share}: expected between 0 and 1")
    opts = MixedOptions(rate=rate, seconds=seconds, clients=clients, batch=batch,
                        ingest_share=ingest_share, seed=seed, keep=keep)  # fmt: skip
    typer.echo(json.dumps(run_mixed(opts), indent=2))
