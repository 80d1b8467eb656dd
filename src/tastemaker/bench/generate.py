"""`tastemaker bench generate`: speed and memory of the synthetic marketplace generator.

With ``--signal`` it also measures how much learnable signal the data carries: how well
the segment rule "share of a user's vehicle views with fuel_type=F >= 0.5" (and the same
for body_type) recovers the hidden preference, and NDCG@10 of EASE and ALS against
popularity on a temporal split (the evaluation runner's protocol).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from typing import Annotated, Any

import polars as pl
import typer

from tastemaker.datasets.marketplace import Marketplace, generate_marketplace, write_marketplace
from tastemaker.datasets.marketplace_catalog import FUEL_TYPES


def segment_recovery(
    m: Marketplace, attribute: str = "fuel_type", threshold: float = 0.5, min_views: int = 5
) -> dict[str, dict[str, float]]:
    """Precision and recall of attribute segments against the hidden preference.

    Users whose tastes drift are left out; a user enters segment V when at least
    ``threshold`` of their (at least ``min_views``) logged-in vehicle views have
    ``attribute`` = V. ``attribute`` is ``fuel_type`` or ``body_type``.
    """
    truth = m.ground_truth["users"]
    prefs = pl.DataFrame(
        {
            "user_id": list(truth),
            "pref": [t[attribute] for t in truth.values()],
            "drifts": [t["drift"] is not None for t in truth.values()],
        },
        schema_overrides={"pref": pl.String},
    )
    views = (
        m.events.filter((pl.col("type") == "view") & pl.col("user_id").is_not_null())
        .join(m.items.select("item_id", pl.col(attribute).alias("attr")).drop_nulls(), on="item_id")
        .join(prefs.filter(~pl.col("drifts")), on="user_id")
    )
    values = FUEL_TYPES if attribute == "fuel_type" else ("suv", "hatchback", "sedan", "van")
    out: dict[str, dict[str, float]] = {}
    for value in values:
        per_user = (
            views.group_by("user_id")
            .agg((pl.col("attr") == value).mean().alias("p"), pl.len(), pl.first("pref"))
            .filter(pl.col("len") >= min_views)
        )
        seg, true = per_user["p"] >= threshold, per_user["pref"] == value
        hits = int((seg & true).sum())
        out[value] = {
            "precision": round(hits / max(int(seg.sum()), 1), 3),
            "recall": round(hits / max(int(true.sum()), 1), 3),
            "users": int(true.sum()),
        }
    return out


def model_lift(m: Marketplace) -> dict[str, float]:
    """NDCG@10 of popularity, EASE and ALS on a temporal split, and the lift over popularity."""
    from threadpoolctl import threadpool_limits

    from tastemaker.config import DEFAULT_EVENT_WEIGHTS
    from tastemaker.evaluation.runner import evaluate_models

    events = m.events.filter(pl.col("user_id").is_not_null())
    with threadpool_limits(1, "blas"):
        result = evaluate_models(
            events, ["popularity", "ease", "als"], split="temporal", ks=(10,),
            event_weights=DEFAULT_EVENT_WEIGHTS, n_bootstrap=50,
        )  # fmt: skip
    ndcg = {e.name: e.value("ndcg", 10) for e in result.models}
    out = {f"ndcg10_{name}": round(v, 4) for name, v in ndcg.items()}
    for name in ("ease", "als"):
        out[f"lift_{name}"] = round(ndcg[name] / max(ndcg["popularity"], 1e-12), 2)
    return out


def bench_generate(
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 5_000,
    items: Annotated[int, typer.Option(min=1, help="Number of items.")] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="Days of events.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="parquet, csv or jsonl.")] = "parquet",
    signal: Annotated[
        bool, typer.Option("--signal", help="Also measure segment recovery and model lift.")
    ] = False,
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
    result: dict[str, Any] = {
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
    if signal:
        result["segments"] = {a: segment_recovery(m, a) for a in ("fuel_type", "body_type")}
        result["models"] = model_lift(m)
    typer.echo(json.dumps(result, indent=2))
