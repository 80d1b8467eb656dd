"""`tastemaker bench ingest`: bulk import from Parquet and HTTP ingestion throughput."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
import typer

from tastemaker.cli.imports import import_file
from tastemaker.workspace import Workspace

_TYPES = np.array(["view", "click", "add_to_cart", "purchase", "rating", "impression", "search"])
_TYPE_P = np.array([0.55, 0.2, 0.06, 0.02, 0.02, 0.1, 0.05])


def synthetic_events(
    n: int, seed: int = 0, users: int = 50_000, items: int = 100_000
) -> pl.DataFrame:
    """Build ``n`` plausible raw events (the shape a shop sends) for throughput tests."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00", "ms")
    offsets = np.sort(rng.integers(0, 30 * 86_400_000, n))
    kinds = _TYPES[rng.choice(len(_TYPES), n, p=_TYPE_P)]
    item = rng.zipf(1.3, n) % items
    return pl.DataFrame(
        {
            "event_id": pl.Series(np.arange(n)).cast(pl.String).str.replace(r"^", "ev-"),
            "user_id": pl.Series(rng.integers(0, users, n)).cast(pl.String).str.replace(r"^", "u"),
            "type": kinds,
            "item_id": pl.Series(item).cast(pl.String).str.replace(r"^", "i"),
            "value": np.round(rng.exponential(20.0, n), 1),
            "timestamp": pl.Series(start + offsets).dt.replace_time_zone("UTC"),
            "session_id": pl.Series(rng.integers(0, n // 8 + 1, n)).cast(pl.String),
            "context": pl.Series(rng.integers(0, 20, n))
            .cast(pl.String)
            .str.replace(r"^(.*)$", r'{"device": "mobile", "position": $1}'),
        }
    ).with_columns(
        pl.when(pl.col("type") == "search").then(None).otherwise(pl.col("item_id")).alias("item_id")
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bulk(
    ws_dir: Path,
    events_path: Path,
    database: str | None = None,
    schema: str | None = None,
    *,
    profiles: bool = False,
) -> dict[str, float | int | str | bool]:
    """Import the file into a fresh workspace; without ``profiles`` no listener runs."""
    ws = Workspace.init(ws_dir, database_url=database, postgres_schema=schema)
    if not profiles:
        ws.ingestor.listeners.clear()
    try:
        started = time.perf_counter()
        summary = import_file(ws, "events", events_path, show_progress=False)
        seconds = time.perf_counter() - started
        return {
            "backend": ws.store.backend,
            "profiles_updated_in_process": profiles,
            "events": summary.received,
            "accepted": summary.accepted,
            "rejected": summary.rejected,
            "seconds": round(seconds, 2),
            "events_per_s": round(summary.received / seconds),
        }
    finally:
        if schema:
            with ws.store.engine.begin() as conn:  # type: ignore[attr-defined]
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        ws.close()


def bench_ingest(
    events: Annotated[int, typer.Option(help="Events to import.")] = 1_000_000,
    postgres: Annotated[
        str | None, typer.Option(help="PostgreSQL URL to also measure (a fresh schema is used).")
    ] = None,
    http_seconds: Annotated[float, typer.Option(help="HTTP test duration (0 = skip).")] = 30.0,
    with_profiles: Annotated[
        bool, typer.Option(help="Also import with in-process profile updates.")
    ] = False,
    http_connections: Annotated[
        int, typer.Option(help="Concurrent keep-alive connections of the HTTP load generator.")
    ] = 32,
) -> None:
    """Measure bulk import (Parquet -> store) and HTTP ingestion; print JSON."""
    from tastemaker.bench.http import http_ingest

    # The 1-minute load average before and after: other work on the machine shows there.
    machine = {"cores": os.cpu_count(), "load_1m_before": round(os.getloadavg()[0], 2)}
    results: dict[str, object] = {"machine": machine}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / "events.parquet"
        synthetic_events(events).write_parquet(path)
        results["sqlite"] = _bulk(root / "ws-sqlite", path)
        results["peak_rss_mb_after_sqlite"] = round(_peak_rss_mb(), 1)
        if postgres:
            schema = f"tm_bench_{int(time.time())}"
            results["postgres"] = _bulk(root / "ws-pg", path, postgres, schema)
        if with_profiles:
            results["sqlite_with_profiles"] = _bulk(root / "ws-prof", path, profiles=True)
        results["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        if http_seconds > 0:
            # One server process; profiles updated inside each request, or (the production
            # design) events published to Redis Streams for `tastemaker worker` processes,
            # which do not run during the measurement.
            results["http_inprocess_profiles"] = http_ingest(
                root / "ws-http", http_seconds, http_connections
            )
            results["http_redis_streams"] = http_ingest(
                root / "ws-http2", http_seconds, http_connections, bus="redis"
            )
    machine["load_1m_after"] = round(os.getloadavg()[0], 2)
    typer.echo(json.dumps(results, indent=2))
