"""`tastemaker bench generate`: speed and memory of the synthetic marketplace generator."""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from typing import Annotated

import typer

from tastemaker.datasets.marketplace import generate_marketplace, write_marketplace


def bench_generate(
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 5_000,
    items: Annotated[int, typer.Option(min=1, help="Number of items.")] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="Days of events.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="parquet, csv or jsonl.")] = "parquet",
) -> None:
    """Generate the marketplace (demo size by default), write it to a temporary folder and
    print one JSON document: events, seconds, events/s and peak RSS."""
    started = time.perf_counter()
    m = generate_marketplace(users, items, days, seed)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tastemaker-bench-generate-") as tmp:
        paths = write_marketplace(m, tmp, fmt)  # type: ignore[arg-type]
        written = time.perf_counter()
        size = sum(p.stat().st_size for p in paths.values())
    total = written - started
    result = {
        "benchmark": "generate",
        "users": users,
        "items": items,
        "days": days,
        "format": fmt,
        "events": m.events.height,
        "seconds_generate": round(generated - started, 3),
        "seconds_write": round(written - generated, 3),
        "seconds": round(total, 3),
        "events_per_s": round(m.events.height / total),
        "bytes_written": size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    typer.echo(json.dumps(result, indent=2))
