"""Tiny synthetic data with known answers, shared by the model tests.

Two taste clusters: users 0..19 engage with items 0..9, users 20..39 with items 10..19,
each user with 6 items of their cluster in one timed session; item 20 is in the catalog
but has no events (a new item). Item 0 and item 10 are the most popular of each cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tastemaker.models.interactions import Interactions

N_USERS, N_ITEMS, PER_CLUSTER = 40, 21, 10

# small hyperparameters so every model trains in milliseconds on the toy data
TEST_PARAMS: dict[str, dict[str, Any]] = {
    "als": {"factors": 4, "regularization": 0.1, "alpha": 2.0, "iterations": 20, "num_threads": 1},
    "bpr": {"factors": 8, "learning_rate": 0.05, "iterations": 300, "num_threads": 1},
    "ease": {"l2": 5.0},
    "itemknn": {"neighbors": 5, "shrinkage": 0.0},
    "hybrid": {
        "components": ["ease", "itemknn"],
        "params": {"ease": {"l2": 5.0}, "itemknn": {"neighbors": 5, "shrinkage": 0.0}},
        "max_validation_users": 40,
    },
}


@dataclass
class Toy:
    """The toy interactions, catalog and the cluster of every user and item."""

    interactions: Interactions
    items: pl.DataFrame
    user_cluster: np.ndarray
    item_cluster: np.ndarray


def build_toy() -> Toy:
    """Build the toy interactions and catalog (deterministic)."""
    rng = np.random.default_rng(7)
    users, items, ts, sessions = [], [], [], []
    for u in range(N_USERS):
        cluster = u // 20
        # item 0 (or 10) always seen first: the popular head of the cluster
        picks = [0, *rng.choice(np.arange(1, PER_CLUSTER), 5, replace=False).tolist()]
        for pos, it in enumerate(picks):
            users.append(u)
            items.append(cluster * PER_CLUSTER + it)
            ts.append(1_700_000_000_000 + u * 3_600_000 + pos * 60_000)
            sessions.append(f"s{u}")
    inter = Interactions.from_arrays(
        np.array(users),
        np.array(items),
        timestamps=np.array(ts),
        sessions=np.array(sessions),
        n_users=N_USERS,
        n_items=N_ITEMS,
    )
    item_cluster = np.array([i // PER_CLUSTER for i in range(N_ITEMS)])
    item_cluster[-1] = 0
    catalog = pl.DataFrame(
        {
            "item_id": [str(i) for i in range(N_ITEMS)],
            "category": ["alpha" if c == 0 else "beta" for c in item_cluster],
            "title": [
                f"{'red apple orchard' if c == 0 else 'blue ocean wave'} item {i}"
                for i, c in enumerate(item_cluster)
            ],
        }
    )
    return Toy(inter, catalog, np.arange(N_USERS) // 20, item_cluster)
