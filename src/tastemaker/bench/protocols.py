"""Published evaluation protocols on retail and synthetic data (`tastemaker bench accuracy`).

MovieLens protocols live in :mod:`tastemaker.bench.movielens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tastemaker.evaluation.protocols import (
    dataset_path,
    marketplace_interactions,
)
from tastemaker.evaluation.runner import score_model
from tastemaker.evaluation.splits import Split
from tastemaker.models.catalog import make_model
from tastemaker.models.interactions import Interactions


def _basket_completion(split: Split, k: int, seed: int) -> dict[str, Any]:
    """fbt vs popularity on completing the held-out baskets of a temporal split."""
    from tastemaker.evaluation.basket import basket_completion, baskets_of

    test_baskets = baskets_of(split.test)
    known = split.train.item_popularity() > 0
    out: dict[str, Any] = {}
    for name in ("fbt", "popularity"):
        model = make_model(name).fit(split.train)
        res = basket_completion(model, test_baskets, k, seed=seed, known_items=known)
        out[name] = {key: (v.to_dict() if hasattr(v, "to_dict") else v) for key, v in res.items()}
    return out


def retail_benchmark(
    path: Path | None = None,
    *,
    k: int = 10,
    holdout_days: int = 30,
    seed: int = 0,
    models: Sequence[str] = ("popularity", "itemknn", "als", "bpr", "ease"),
) -> dict[str, Any]:
    """Online Retail, last ``holdout_days`` of invoices held out.

    1. Basket completion: fbt and popularity trained on every earlier invoice (guest
       invoices included); each held-out invoice with >= 2 items hides one item and the
       models recommend ``k`` from the rest.
    2. Next-month purchases per customer: models trained on customers' earlier purchases
       recommend ``k`` new items; relevant = items bought in the held-out month.
    """
    from tastemaker.datasets.retail import load_online_retail
    from tastemaker.evaluation.splits import assert_no_leakage, temporal_split

    folder = dataset_path("online-retail", path)
    data = load_online_retail(folder)
    all_events = pl.concat([data.events, data.extras["guest_events"]])
    newest = all_events["timestamp"].max()
    assert isinstance(newest, datetime)
    cutoff = newest - timedelta(days=holdout_days)
    weights = {"purchase": 1.0}
    inter = Interactions.from_events(all_events, weights)
    split = temporal_split(inter, cutoff)
    assert_no_leakage(split.train, cutoff)
    basket = _basket_completion(split, k, seed)
    ratio = basket["fbt"]["hit_rate"]["mean"] / max(basket["popularity"]["hit_rate"]["mean"], 1e-12)
    customers = Interactions.from_events(data.events, weights)
    cust_split = temporal_split(customers, cutoff)
    personal: dict[str, Any] = {}
    for name in models:
        fitted = make_model(name).fit(cust_split.train)
        metrics, _, _, _ = score_model(fitted, cust_split, [k], n_bootstrap=1000, seed=seed)
        personal[name] = {
            m: metrics[m][k].to_dict() for m in ("ndcg", "precision", "recall", "hit_rate")
        }
    pop_ndcg = personal["popularity"]["ndcg"]["mean"]
    return {
        "dataset": "online-retail",
        "cutoff": cutoff.isoformat(),
        "k": k,
        "basket_completion": basket,
        "fbt_over_popularity": ratio,
        "basket_bar_met": ratio >= 2.0,
        "next_month": personal,
        "next_month_users": len(cust_split.test.log["user"].unique()),
        "personalized_beat_popularity": {
            n: v["ndcg"]["mean"] > pop_ndcg for n, v in personal.items() if n != "popularity"
        },
    }


def marketplace_benchmark(
    *,
    users: int = 5000,
    items: int = 3000,
    days: int = 30,
    seed: int = 0,
    k: int = 10,
    models: Sequence[str] = ("popularity", "itemknn", "als", "bpr", "ease", "session", "hybrid"),
) -> dict[str, Any]:
    """Synthetic marketplace, temporal split (last 20% of time held out), NDCG@k.

    Events are weighted by ``Settings.event_weights`` (defaults); ALS and EASE should beat
    popularity by at least 2x, BPR should beat it. Hyperparameters come from the recorded
    tuning runs ``tuning_runs/marketplace-<model>.json`` (validation carved from training
    only).
    """
    from tastemaker.evaluation.splits import temporal_split
    from tastemaker.evaluation.tuning import tuned_params

    inter, market_items = marketplace_interactions(users, items, days, seed)
    split = temporal_split(inter, test_fraction=0.2)
    table: dict[str, Any] = {}
    params = {name: tuned_params("marketplace", name) for name in models}
    for name in models:
        fitted = make_model(name, **params[name]).fit(split.train, market_items)
        metrics, _, _, _ = score_model(fitted, split, [k], n_bootstrap=1000, seed=seed)
        table[name] = {
            m: metrics[m][k].to_dict() for m in ("ndcg", "precision", "recall", "hit_rate")
        }
    pop = table["popularity"]["ndcg"]["mean"]
    ratios = {n: v["ndcg"]["mean"] / max(pop, 1e-12) for n, v in table.items()}
    return {
        "params": params,
        "dataset": f"marketplace(users={users}, items={items}, days={days}, seed={seed})",
        "split": split.describe(),
        "k": k,
        "models": table,
        "ndcg_over_popularity": ratios,
        "bar_met": all(ratios.get(n, 0.0) >= 2.0 for n in ("als", "ease")),
        "bpr_beats_popularity": ratios.get("bpr", 0.0) > 1.0,
    }
