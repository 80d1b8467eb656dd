"""`tastemaker bench propensity`: out-of-time accuracy, training time and online latency of
the purchase-propensity model on the synthetic marketplace, as one JSON document."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.workspace import Workspace


def bench_propensity(
    users: Annotated[int, typer.Option(help="Synthetic users.")] = 5_000,
    items: Annotated[int, typer.Option(help="Synthetic items.")] = 2_000,
    days: Annotated[int, typer.Option(help="Days of events.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 42,
    latency_users: Annotated[int, typer.Option(help="Users scored for the latency run.")] = 500,
) -> None:
    """Train (auto: LightGBM vs logistic) on a fresh workspace, then score users online."""
    from tastemaker.propensity.scorer import PropensityScorer
    from tastemaker.propensity.training import PropensityConfig, registry_of, train_propensity

    out: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "data": {"users": users, "items": items, "days": days, "seed": seed},
    }
    with tempfile.TemporaryDirectory(prefix="tm-bench-propensity-") as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        try:
            market = generate_marketplace(users, items, days, seed)
            ws.ingestor.ingest_items(market.items, "bench")
            ws.ingestor.ingest_events(market.events, "bench")
            t = time.perf_counter()
            result = train_propensity(ws, PropensityConfig())
            out["train_seconds"] = round(time.perf_counter() - t, 2)
            out["examples"], out["cutoffs"] = result.examples, result.cutoffs
            out["chosen"] = result.model
            out["test"] = {
                name: {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}
                for name, m in result.metrics.items()
            }
            assert result.version is not None
            registry_of(ws).promote(result.version)
            scorer = PropensityScorer(ws)
            end = int(market.events["timestamp"].max().timestamp() * 1000)  # type: ignore[union-attr]
            keys = [ws.pseudonymizer.one(u) for u in market.users["user_id"][:latency_users]]
            t = time.perf_counter()
            scorer.score(keys[0], now_ms=end)
            out["first_call_seconds"] = round(time.perf_counter() - t, 3)
            lat, scored = [], 0
            for key in keys:
                t = time.perf_counter()
                scored += len(scorer.score(key, now_ms=end).items)
                lat.append(time.perf_counter() - t)
            ms = np.asarray(lat) * 1000
            out["online"] = {
                "users": len(keys),
                "items_per_user": round(scored / max(len(keys), 1), 2),
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2),
            }
        finally:
            ws.close()
    typer.echo(json.dumps(out, indent=2))
