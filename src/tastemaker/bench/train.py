"""`tastemaker bench train`: training and scoring speed, side by side with `implicit`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from tastemaker.models.als import ALSRecommender
from tastemaker.models.catalog import MODELS, make_model
from tastemaker.models.interactions import Interactions

EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase"])
EVENT_P = np.array([0.7, 0.2, 0.07, 0.03])


def powerlaw_events(n: int, users: int, items: int, seed: int = 0) -> pl.DataFrame:
    """``n`` events in the store schema: Zipf-like item popularity, mixed types, dwell times."""
    rng = np.random.default_rng(seed)
    item_weights = 1.0 / np.arange(1, items + 1) ** 0.9
    item = rng.choice(items, n, p=item_weights / item_weights.sum())
    start = np.datetime64("2026-01-01T00:00:00", "ms")
    return pl.DataFrame(
        {
            "user_id": pl.Series(rng.integers(0, users, n)).cast(pl.String),
            "type": EVENT_TYPES[rng.choice(len(EVENT_TYPES), n, p=EVENT_P)],
            "item_id": pl.Series(rng.permutation(items)[item]).cast(pl.String),
            "value": np.round(rng.exponential(20.0, n), 1),
            "timestamp": pl.Series(
                start + np.sort(rng.integers(0, 30 * 86_400_000, n))
            ).dt.replace_time_zone("UTC"),
            "session_id": pl.Series(rng.integers(0, n // 6 + 1, n)).cast(pl.String),
        }
    )


def marketplace_events(n: int, items: int = 5_000, seed: int = 0) -> pl.DataFrame:
    """Events of the synthetic marketplace generator, at least ``n`` with a nonzero weight."""
    from tastemaker.datasets.marketplace import generate_marketplace

    users = max(1000, n // 30)
    market = generate_marketplace(users=users, items=items, days=30, seed=seed)
    weighted = market.events.filter(~pl.col("type").is_in(["impression", "search", "identify"]))
    return weighted.head(n)


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def als_side_by_side(events: pl.DataFrame, repeat: int = 3) -> dict[str, Any]:
    """ALS 64 factors, 15 iterations: tastemaker from events vs implicit on the ready matrix."""
    params = {"factors": 64, "iterations": 15, "regularization": 0.05, "alpha": 1.0}

    def ours() -> Any:
        inter = Interactions.from_events(events)
        return make_model("als", **params, random_state=0).fit(inter)

    ready = Interactions.from_events(events).matrix

    def direct() -> Any:
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(**params, random_state=0)
            model.fit(ready, show_progress=False)
        return model

    direct_s, ours_s, model = float("inf"), float("inf"), ALSRecommender()
    for _ in range(repeat):  # interleaved, best of each, so machine load hits both alike
        direct_s = min(direct_s, _timed(direct)[0])
        secs, model = _timed(ours)
        ours_s = min(ours_s, secs)
    users = np.arange(min(10_000, model.n_users))
    rec_s, _ = _timed(lambda: model.recommend(users, 10), repeat)
    return {
        "events": events.height,
        "matrix": {"users": ready.shape[0], "items": ready.shape[1], "nnz": int(ready.nnz)},
        "implicit_direct_seconds": direct_s,
        "tastemaker_seconds_with_data_prep": ours_s,
        "ratio": ours_s / direct_s,
        "ratio_bar": 1.5,
        "ratio_ok": ours_s / direct_s <= 1.5,
        "top10_users": len(users),
        "top10_seconds": rec_s,
        "top10_ok": rec_s < 1.0,
    }


def ease_speed(n_items: int = 3000, seed: int = 0) -> dict[str, Any]:
    """EASE fit on a catalog of ``n_items`` items (power-law interactions)."""
    events = powerlaw_events(300_000, 20_000, n_items, seed)
    inter = Interactions.from_events(events)
    secs, _ = _timed(lambda: make_model("ease").fit(inter))
    return {"items": inter.n_items, "nnz": inter.nnz, "seconds": secs, "ok": secs < 5.0}


def evaluate_speed() -> dict[str, Any]:
    """A full evaluation of every model on ML-100k (random 75/25 split, K=10)."""
    from tastemaker.datasets.movielens import load_movielens
    from tastemaker.evaluation.protocols import dataset_path
    from tastemaker.evaluation.runner import evaluate_models

    data = load_movielens(dataset_path("ml-100k"))
    t0 = time.perf_counter()
    inter = Interactions.from_events(data.events, item_ids=data.items["item_id"])
    result = evaluate_models(inter, list(MODELS), "random", [10], items=data.items)
    secs = time.perf_counter() - t0
    return {
        "models": list(MODELS),
        "seconds": secs,
        "ok": secs < 60.0,
        "fit_seconds": {m.name: round(m.fit_seconds, 3) for m in result.models},
    }


def bench_train(
    interactions: Annotated[int, typer.Option(help="Synthetic interactions for ALS.")] = 1_000_000,
    source: Annotated[str, typer.Option(help="marketplace or powerlaw.")] = "marketplace",
    items: Annotated[int, typer.Option(help="Catalog size of the synthetic data.")] = 5_000,
    skip_evaluate: Annotated[bool, typer.Option(help="Skip the ML-100k evaluate timing.")] = False,
) -> None:
    """Speed bars: ALS vs implicit, top-10 for 10k users, EASE on 3k items, evaluate ML-100k."""
    if source == "marketplace":
        events = marketplace_events(interactions, items)
    else:
        events = powerlaw_events(interactions, max(1000, interactions // 20), items)
    result: dict[str, Any] = {"source": source, "als": als_side_by_side(events)}
    result["ease_3000_items"] = ease_speed()
    if not skip_evaluate:
        result["evaluate_ml100k_all_models"] = evaluate_speed()
    typer.echo(json.dumps(result, indent=2))
