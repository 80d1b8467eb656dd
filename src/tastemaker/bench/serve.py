"""`tastemaker bench serve`: latency, throughput and cold start of /v1/recommendations.

Builds (once, then reuses) a synthetic workspace of ``--items`` items and about
``--events`` events, trains and promotes a hybrid (item-kNN + ALS), then starts the API
with uvicorn and loads it over loopback from a separate process:

1. cold start: process spawn to ``/readyz`` answering 200 (model loaded);
2. a fixed rate (default 300 req/s for 60 s) against one server process, k=20;
3. the share of server request time spent outside the ANN search and the ranker
   (from the server's own stage histograms);
4. stepped rates against two server processes: the highest rate whose p99 stays under
   50 ms with no errors.
Prints one JSON document.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from tastemaker.bench.serve_load import run_load
from tastemaker.bench.server import http_get, start_server

MARKER = ".tastemaker-bench-serve"
PARAMS = {
    "components": ["itemknn", "als"],
    "weights": [0.5, 0.5],
    "params": {"als": {"factors": 32, "iterations": 10}, "itemknn": {"neighbors": 50}},
}


def _prepare(path: Path, items: int, events: int, seed: int) -> dict[str, Any]:
    """Create (or reuse) the benchmark workspace with a promoted model."""
    from tastemaker.datasets.marketplace import generate_marketplace
    from tastemaker.training.recommender import registry_of, train_version
    from tastemaker.workspace import Workspace

    if (path / MARKER).exists():
        ws = Workspace.open(path)
        reg = registry_of(ws)
        if reg.state().active:
            found = {"events": ws.store.count_events(), "items": ws.store.items().height}
            ws.close()
            return {**found, "reused": True}
        ws.close()
    users = max(100, events // 50)
    days = 18
    t0 = time.perf_counter()
    market = generate_marketplace(users=users, items=items, days=days, seed=seed)
    ws = Workspace.init(path)
    (path / MARKER).write_text("made by `tastemaker bench serve`; safe to delete\n")
    ws.ingestor.ingest_items(market.items, "bench")
    ws.ingestor.ingest_users(market.users, "bench")
    ws.ingestor.ingest_events(market.events, "bench")
    ingest_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    manifest = train_version(ws, "hybrid", PARAMS, holdout=0.1)
    registry_of(ws).promote(manifest.version)
    info: dict[str, Any] = {
        "events": ws.store.count_events(),
        "items": ws.store.items().height,
        "prepare_seconds": round(ingest_s, 1),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "ann": manifest.retrieval,
        "reused": False,
    }
    ws.close()
    return info


_NO_CACHES = "user_cache_seconds: 0\n"


def _start(
    workspace: Path, workers: int, caches: bool = True
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start uvicorn; return the process, its port and seconds until /readyz is 200.

    Without ``caches`` the per-user result cache and the profile-step cache are off, so
    every request runs the whole pipeline.
    """
    env = {} if caches else {"TASTEMAKER__CACHE__RESULT_TTL_SECONDS": "0"}
    return start_server(workspace, workers, env)


def _pipeline_file(workspace: Path, caches: bool) -> Path | None:
    """Write ``recommendations.yaml`` turning the profile-step cache off (None: untouched)."""
    path = workspace / "recommendations.yaml"
    if path.is_file() and path.read_text() == _NO_CACHES:
        path.unlink()  # left by an interrupted --no-caches run
    if caches:
        return None
    if path.exists():
        raise RuntimeError(f"{path} exists: --no-caches needs the default pipeline settings")
    path.write_text(_NO_CACHES)
    return path


def _paths(n: int, users: int, seed: int, k: int = 20) -> list[str]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, users, n)
    unknown = rng.random(n) < 0.05
    return [
        f"/v1/recommendations/{'nobody' if u else ''}u{i:06d}?k={k}"
        for i, u in zip(ids.tolist(), unknown.tolist(), strict=True)
    ]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _histogram_sums(port: int) -> dict[str, float]:
    """Seconds per endpoint and per stage so far, plus result-cache hits and misses."""
    text = http_get(port, "/metrics")[1].decode()
    out: dict[str, float] = {}
    for name, label, value in re.findall(
        r'tastemaker_(request|stage)_seconds_sum\{\w+="([^"]+)"\} ([0-9.e+-]+)', text
    ):
        out[f"{name}:{label}"] = float(value)
    for result, value in re.findall(
        r'tastemaker_cache_lookups_total\{result="(\w+)"\} ([0-9.e+-]+)', text
    ):
        out[f"cache:{result}"] = float(value)
    return out


def _fixed_rate(
    workspace: Path, rate: float, seconds: float, users: int, caches: bool = True
) -> dict[str, Any]:
    proc, port, cold = _start(workspace, 1, caches)
    try:
        run_load(port, _paths(500, users, 1), 200)  # warm-up
        before, cpu0 = _histogram_sums(port), _cpu_seconds(proc.pid)
        result = run_load(port, _paths(int(rate * seconds), users, 2), rate).summary()
        after, cpu1 = _histogram_sums(port), _cpu_seconds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    total = delta.get("request:/v1/recommendations/{user_id}", 0.0)
    core = delta.get("stage:ann", 0.0) + delta.get("stage:score", 0.0)
    lookups = delta.get("cache:hit", 0.0) + delta.get("cache:miss", 0.0)
    # per request the server answered (one cache lookup each), not per request sent: an
    # overloaded server answers fewer, and dividing by those sent would flatter it
    served = max(lookups or result["requests"], 1)
    stages = {
        k.split(":")[1]: round(v / served * 1000, 3)
        for k, v in delta.items()
        if k.startswith("stage:")
    }
    return {
        "result_cache_hit_rate": round(delta.get("cache:hit", 0.0) / lookups, 3)
        if lookups
        else None,
        "cold_start_seconds": round(cold, 2),
        "fixed_rate": {"target_rps": rate, "seconds": seconds, **result},
        "served_requests": int(served),
        "server_ms_per_request": round(total / served * 1000, 3),
        "server_cpu_ms_per_request": round((cpu1 - cpu0) / served * 1000, 3),
        "stage_ms_per_request": stages,
        "share_outside_ann_and_ranker": round(1 - core / total, 3) if total else None,
    }


def _max_throughput(
    workspace: Path, rates: list[float], seconds: float, users: int, caches: bool = True
) -> dict[str, Any]:
    proc, port, _ = _start(workspace, 2, caches)
    steps = []
    best = 0.0
    try:
        run_load(port, _paths(1000, users, 3), 300)
        for i, rate in enumerate(rates):
            s = run_load(port, _paths(int(rate * seconds), users, 10 + i), rate, 64).summary()
            steps.append({"target_rps": rate, **s})
            if s["errors"] or s["p99_ms"] >= 50:
                break
            best = rate
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"server_processes": 2, "max_rps_p99_under_50ms": best, "steps": steps}


def bench_serve(
    workspace: Annotated[
        Path, typer.Option(help="Benchmark workspace (made once, reused).")
    ] = Path("bench-serve-workspace"),
    items: Annotated[int, typer.Option(help="Catalog size.")] = 100_000,
    events: Annotated[int, typer.Option(help="About this many synthetic events.")] = 1_000_000,
    rate: Annotated[float, typer.Option(help="Fixed request rate (req/s).")] = 300.0,
    seconds: Annotated[float, typer.Option(help="Length of the fixed-rate run.")] = 60.0,
    step_seconds: Annotated[float, typer.Option(help="Length of each throughput step.")] = 15.0,
    rates: Annotated[str, typer.Option(help="Throughput steps (req/s), comma-separated.")] = (
        "100,200,300,400,600,800"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 7,
    caches: Annotated[
        bool,
        typer.Option(
            help="Per-user result and profile-step caches (off: every request "
            "runs the whole pipeline)."
        ),
    ] = True,
) -> None:
    """Recommendation latency at a fixed rate, max throughput, overhead share, cold start."""
    workspace = workspace.resolve()
    info = _prepare(workspace, items, events, seed)
    users = max(100, events // 50)
    out: dict[str, Any] = {"benchmark": "serve", "workspace": str(workspace), "data": info}
    out["caches"] = caches
    written = _pipeline_file(workspace, caches)
    try:
        out |= _fixed_rate(workspace, rate, seconds, users, caches)
        steps = [float(r) for r in rates.split(",") if r.strip()]
        out["throughput"] = _max_throughput(workspace, steps, step_seconds, users, caches)
    finally:
        if written is not None:
            written.unlink()
    out["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    typer.echo(json.dumps(out, indent=2))
