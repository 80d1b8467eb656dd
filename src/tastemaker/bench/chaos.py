"""`tastemaker bench chaos`: mixed ingest + read load while Redis, PostgreSQL and a worker fail.

Everything runs on backends started for the run (`chaos_backends`: PostgreSQL and Redis on
free ports, data in temporary folders), never the machine's shared ones:

1. a workspace on them (``bus: redis``, ``cache.redis_url``) with a small synthetic
   marketplace and a small promoted ALS model, so reads go through the engine;
2. two API processes and two stream workers (`chaos_rig`);
3. ``--clients`` threads post batches of events with unique ids (resent on 503 or no answer)
   and read recommendations, featured listings and profiles for ``--seconds``
   (`chaos_load`); meanwhile Redis is paused and killed, then PostgreSQL, then a worker,
   spaced so the system recovers in between;
4. once the system has settled, every event is followed from answered 2xx to stored,
   published and applied (`chaos_audit`).

With ``--jobs`` the workers also run retention every 20 s and retraining, and a tenth of the
batches carry events a day older than the retention cut (a client that was offline): each
run deletes some and rebuilds the profiles while the load goes on. Once settled, one more
run deletes the rest; none may be left, and the profiles must still equal a replay.

The bar: nothing lost at any stage and no answer 5xx other than 503. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from tastemaker.bench.chaos_audit import audit, retention_runs, wait_settled
from tastemaker.bench.chaos_load import Load, LoadPlan, Tally
from tastemaker.bench.chaos_rig import WORKERS, ChaosRig
from tastemaker.bench.machine import machine_facts

FAULTS = ("redis_pause", "redis_kill", "postgres_pause", "postgres_kill", "worker_kill")
PARTITIONS = 4
#: with ``--jobs``: the workers run retention this often, and this share of the clients'
#: batches is timestamped a day before its cut, so runs delete and rebuild under the load
RETENTION_EVERY_S = 20.0
LATE_SHARE = 0.1


@dataclass
class ChaosOptions:
    """One run: load, data size, faults (in order) and how long to wait for settling."""

    seconds: float = 60.0
    clients: int = 4
    rate: float = 60.0
    batch: int = 25
    seed: int = 1
    keep: bool = False
    users: int = 500
    items: int = 300
    days: int = 7
    faults: tuple[str, ...] = FAULTS
    settle_s: float = 60.0
    #: refuse requests without a key (clients send one with ingest + read scopes)
    keys: bool = True
    #: the workers' jobs on: retention (events older than ``days - 2`` deleted) and guarded
    #: retraining due at once, both run by each worker when it (re)starts
    jobs: bool = False

    @property
    def retention_days(self) -> float:
        """Retention with ``jobs``: the oldest imported days go (at least one day is kept)."""
        return max(1.0, self.days - 2.0)


def prepare_workspace(
    root: Path, pg_url: str, redis_url: str, opts: ChaosOptions
) -> dict[str, Any]:
    """The workspace: settings on the throwaway backends, the marketplace's user events
    (no visitors: stitching across partitions is a documented approximation), a promoted
    model; with ``opts.keys`` requests without a key refused and one key (ingest + read)
    made. Returns what it holds, the raw user and item ids and the key (or None)."""
    from tastemaker.access import KeyRing
    from tastemaker.config import CacheConfig, RedisBusConfig, load_settings, write_settings
    from tastemaker.datasets.marketplace import generate_marketplace
    from tastemaker.training.recommender import registry_of, train_version
    from tastemaker.workspace import Workspace

    Workspace.init(root, database_url=pg_url).close()
    settings = load_settings(root)
    settings.bus = RedisBusConfig(url=redis_url, partitions=PARTITIONS)
    settings.cache = CacheConfig(redis_url=redis_url)
    if opts.jobs:
        settings.privacy.retention_days = opts.retention_days
        settings.retraining.schedule_hours = 0.001
        settings.privacy.retention_every_hours = RETENTION_EVERY_S / 3600
    if opts.keys:  # the default rate and request limits stay on
        settings.serving.allow_anonymous = "never"
        settings.serving.open_endpoints = "never"
    write_settings(settings)
    _check_isolated(root, pg_url, redis_url)
    start = (datetime.now(UTC) - timedelta(days=opts.days)).date()
    market = generate_marketplace(opts.users, opts.items, opts.days, opts.seed, start=start)
    events = market.events.filter(
        market.events["user_id"].is_not_null()
        & market.events["anonymous_id"].is_null()
        & ~market.events["type"].is_in(["impression", "identify"])
    )
    ws = Workspace.open(root)
    try:
        token = (
            KeyRing(ws.store, ws.root).create("load", ["ingest", "read"]).token
            if opts.keys
            else None
        )
        ws.ingestor.ingest_items(market.items, "chaos")
        ws.ingestor.ingest_users(market.users, "chaos")
        ws.ingestor.ingest_events(events, "chaos")
        t0 = time.perf_counter()
        manifest = train_version(ws, "als", {"factors": 16, "iterations": 5}, holdout=0)
        registry_of(ws).promote(manifest.version)
        train_s = time.perf_counter() - t0
    finally:
        ws.close()
    return {"users": market.users["user_id"].to_list(), "items": market.items["item_id"].to_list(),
            "api_key": token,
            "info": {"users": market.users.height, "items": market.items.height,
                     "events": events.height, "model": "als (16 factors)",
                     "train_seconds": round(train_s, 1)}}  # fmt: skip


def _check_isolated(root: Path, pg_url: str, redis_url: str) -> None:
    """Refuse to go on if the settings every process will read (environment overrides
    included) point anywhere but the throwaway backends.

    Raises:
        RuntimeError: a ``TASTEMAKER__...`` variable redirects the store, bus or cache.
    """
    from tastemaker.config import PostgresStoreConfig, RedisBusConfig, load_settings

    s = load_settings(root)
    ours = (isinstance(s.store, PostgresStoreConfig) and s.store.url == pg_url
            and isinstance(s.bus, RedisBusConfig) and s.bus.url == redis_url
            and s.cache.redis_url == redis_url)  # fmt: skip
    if not ours:
        raise RuntimeError(
            "TASTEMAKER__ environment variables redirect the workspace's store, bus or cache: "
            "unset them to run the chaos benchmark"
        )


def settled_backlog(root: Path, timeout: float) -> dict[str, Any]:
    """Open the workspace, wait until it settled, close it (no connection kept open)."""
    from tastemaker.config import RedisBusConfig
    from tastemaker.storage.redis_streams import RedisStreamBus
    from tastemaker.workspace import Workspace

    ws = Workspace.open(root)
    assert isinstance(ws.settings.bus, RedisBusConfig)
    bus = RedisStreamBus(ws.settings.bus)
    try:
        return wait_settled(ws, bus, timeout)
    finally:
        bus.close()
        ws.close()


def _counts(root: Path, tally: Tally, prefix: str) -> dict[str, Any]:
    from tastemaker.config import RedisBusConfig
    from tastemaker.storage.redis_streams import RedisStreamBus
    from tastemaker.workspace import Workspace

    ws = Workspace.open(root)
    assert isinstance(ws.settings.bus, RedisBusConfig)
    bus = RedisStreamBus(ws.settings.bus)
    try:
        return audit(ws, bus, tally, prefix)
    finally:
        bus.close()
        ws.close()


def _inject(rig: ChaosRig, opts: ChaosOptions) -> None:
    """Run the faults in order, the i-th starting at 10 % + 80 % * i / n of the load time
    (or when the one before ended), each outage lasting 1-4 s."""
    faults = rig.faults()
    outage = max(1.0, min(4.0, opts.seconds / 20))
    for i, name in enumerate(opts.faults):
        at = rig.t0 + opts.seconds * (0.1 + 0.8 * i / len(opts.faults))
        time.sleep(max(0.0, at - time.monotonic()))
        faults[name](outage)


def _logs(rig: ChaosRig) -> dict[str, Any]:
    """From the logs: tracebacks and unhandled exceptions of the API processes, platform
    records (impressions) they could not store, outages and recoveries of the workers."""
    api = (rig.logs / "api.log").read_text(errors="replace")
    workers = "".join(p.read_text(errors="replace") for p in rig.logs.glob("worker-*.log"))
    dropped = re.findall(r"could not store (\d+) platform records", api)
    return {"api_tracebacks": api.count("Traceback"),
            "api_exceptions_leaving_the_app": api.count("Exception in ASGI application"),
            "platform_records_not_stored": sum(int(n) for n in dropped),
            "worker_down": workers.count(" down: "),
            "worker_up_again": workers.count("up again"),
            "worker_job_lines": [line.strip()[-200:] for line in workers.splitlines()
                                 if "retention:" in line or "retrain" in line][:12]}  # fmt: skip


def _setup(rig: ChaosRig, opts: ChaosOptions) -> dict[str, Any]:
    """Backends, workspace, API and workers, up and idle; what was set up."""
    pg, redis = rig.start_backends()
    ws = rig.root / "ws"
    data = prepare_workspace(ws, pg.url, redis.url, opts)
    rig.start_api(ws)
    for n in range(WORKERS):
        rig.start_worker(n)
    before = settled_backlog(ws, 120)
    if not before["settled"]:
        raise RuntimeError(f"the workers did not consume the imported events: {before}")
    return {"api_processes": 2, "workers": WORKERS, "partitions": PARTITIONS,
            "api_ready_seconds": round(rig.api_ready_s, 1), "data": data["info"],
            "users": data["users"], "items": data["items"], "api_key": data["api_key"],
            "jobs": opts.jobs,
            "access": {"keys": opts.keys, "rate_limits": "on (defaults)",
                       "request_limits": "on (defaults)"},
            "postgres": {"version": pg.version(), "port": pg.port,
                         "kill": "pg_ctl stop -m immediate, then start (crash recovery)",
                         "fsync": "off (a killed process loses nothing written)"},
            "redis": {"version": redis.version(), "port": redis.port,
                      "persistence": "appendonly yes, appendfsync always, no RDB"}}  # fmt: skip


def _under_load(rig: ChaosRig, opts: ChaosOptions, setup: dict[str, Any]) -> dict[str, Any]:
    """The load with the faults, the wait for settling, the counts."""
    prefix = f"chaos-{uuid.uuid4().hex[:8]}-"
    plan = LoadPlan(ports=rig.api_ports, users=setup.pop("users"), items=setup.pop("items"),
                    api_key=setup.pop("api_key"),
                    seconds=opts.seconds, clients=opts.clients, rate=opts.rate,
                    batch=opts.batch, seed=opts.seed, prefix=prefix,
                    late_share=LATE_SHARE if opts.jobs else 0.0,
                    late_days=opts.retention_days + 1.0)  # fmt: skip
    load = Load(plan)
    try:
        rig.t0 = load.start()
        _inject(rig, opts)
        tally = load.join()
    finally:
        load.abort()
    rig.note("load over (clients done resending)")
    settled = settled_backlog(rig.root / "ws", opts.settle_s)
    rig.note("settled" if settled["settled"] else "did not settle")
    retention = _last_retention(rig) if opts.jobs else None
    counts = _counts(rig.root / "ws", tally, prefix)
    answers = tally.summary()
    lost = sum(counts["lost"].values())
    return {"bar_met": lost == 0 and answers["answered_5xx_not_503"] == 0
                       and settled["settled"],
            **counts, "answers": answers, "settle": settled,
            "retention": retention}  # fmt: skip


def _last_retention(rig: ChaosRig) -> dict[str, Any]:
    """Once settled, one more retention run (the late events sent since the workers' last
    run go), the wait for the workers, and every run's figures from the audit log."""
    from tastemaker.privacy.retention import apply_retention
    from tastemaker.workspace import Workspace

    ws = Workspace.open(rig.root / "ws")
    try:
        apply_retention(ws, actor="bench")
        runs = retention_runs(ws)
    finally:
        ws.close()
    rig.note("last retention run")
    return {**runs, "settle_after": settled_backlog(rig.root / "ws", 60.0)}


def run_chaos(opts: ChaosOptions) -> dict[str, Any]:
    """One chaos run; the JSON-ready result. Every process it started is stopped and its
    temporary folders removed (unless ``opts.keep``), whatever happens."""
    unknown = sorted(set(opts.faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    load_before = os.getloadavg()
    rig = ChaosRig(Path(tempfile.mkdtemp(prefix="tm-chaos-")))
    try:
        setup = _setup(rig, opts)
        result = _under_load(rig, opts, setup)
        logs = _logs(rig)
    finally:
        rig.stop(opts.keep)
        if not opts.keep:
            shutil.rmtree(rig.root, ignore_errors=True)
    kept = [str(rig.root), str(rig.pg.data)] if opts.keep and rig.pg is not None else None
    return {
        "benchmark": "chaos", **result, "timeline": rig.timeline, "logs": logs,
        "setup": setup,
        "load": {"seconds": opts.seconds, "clients": opts.clients, "rate_rps": opts.rate,
                 "batch": opts.batch, "seed": opts.seed, "faults": list(opts.faults)},
        "kept": kept,
        "machine": machine_facts(load_before),
    }  # fmt: skip


def bench_chaos(
    seconds: Annotated[float, typer.Option(help="Length of the load (faults within it).")] = 60.0,
    clients: Annotated[int, typer.Option(help="Client threads.")] = 4,
    rate: Annotated[float, typer.Option(help="Requests per second over all clients.")] = 60.0,
    batch: Annotated[int, typer.Option(help="Events per POST /v1/events.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the data and the clients.")] = 1,
    faults: Annotated[
        str, typer.Option(help="Faults in order, comma-separated: " + ", ".join(FAULTS) + ".")
    ] = ",".join(FAULTS),
    keep: Annotated[bool, typer.Option(help="Keep the temporary folders (data, logs).")] = False,
    jobs: Annotated[
        bool,
        typer.Option(help="Retention every 20 s with late events, and retraining, in the workers."),
    ] = False,
    keys: Annotated[
        bool, typer.Option(help="Refuse requests without a key; the clients send one.")
    ] = True,
) -> None:
    """Ingest + read load while Redis, PostgreSQL and a worker are paused and killed; counts
    events answered, stored, published and applied, and 5xx answers other than 503."""
    names = tuple(f.strip() for f in faults.split(",") if f.strip())
    opts = ChaosOptions(seconds=seconds, clients=clients, rate=rate, batch=batch, seed=seed,
                        keep=keep, faults=names, keys=keys,
                        jobs=jobs)  # fmt: skip
    typer.echo(json.dumps(run_chaos(opts), indent=2))
