"""`tastemaker bench profiles`: profile update throughput, Redis Streams workers, featured API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tastemaker.bench.profile_stream import bench_featured, bench_inprocess, bench_streams

PARTS = ("inprocess", "streams", "featured")


def bench_profiles(
    only: Annotated[
        str | None, typer.Option(help="Run one part: inprocess, streams or featured.")
    ] = None,
    redis_url: Annotated[str, typer.Option(help="Redis for the streams part.")] = (
        "redis://127.0.0.1:6379/15"
    ),
    database: Annotated[
        str, typer.Option(help="PostgreSQL URL for the streams part ('sqlite' for SQLite).")
    ] = "postgresql://postgres@127.0.0.1:5432/test",
    quick: Annotated[bool, typer.Option(help="Small sizes (smoke run).")] = False,
) -> None:
    """Benchmark profiles and the featured listing; print one JSON document.

    Targets: in-process >= 30,000 events/s on one core; 2 stream workers >= 15,000 events/s
    and p99 event-to-segment-visible < 50 ms at 2,000 events/s; featured p99 < 10 ms at
    200 requests/s with 100,000 items.
    """
    if only is not None and only not in PARTS:
        raise typer.BadParameter(f"--only {only!r}: expected one of {', '.join(PARTS)}")
    out: dict[str, Any] = {}
    db = None if database == "sqlite" else database
    if only in (None, "inprocess"):
        out["inprocess"] = (bench_inprocess(users=800, items=1000, days=7) if quick
                            else bench_inprocess())  # fmt: skip
    if only in (None, "streams"):
        out["streams"] = (
            bench_streams(users=800, items=1000, days=7, redis_url=redis_url, database=db,
                          latency_seconds=2.0)
            if quick else bench_streams(redis_url=redis_url, database=db)
        )  # fmt: skip
    if only in (None, "featured"):
        out["featured"] = (bench_featured(users=300, items=5000, days=3, requests=300) if quick
                           else bench_featured())  # fmt: skip
    typer.echo(json.dumps(out, indent=1))
