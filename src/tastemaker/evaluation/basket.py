"""Basket completion: hide one item of each basket, recommend from the rest, count hits."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.evaluation.metrics import Estimate, bootstrap_ci
from tastemaker.models.base import Recommender
from tastemaker.models.interactions import Interactions


def hide_one(baskets: sp.csr_matrix, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Pick one item per basket (baskets with >= 2 items); return ``(rest, hidden)``.

    ``hidden`` holds the hidden item index of each returned row.
    """
    b = sp.csr_matrix(baskets)
    sizes = np.diff(b.indptr)
    keep = np.flatnonzero(sizes >= 2)
    b = b[keep]
    sizes = sizes[keep]
    rng = np.random.default_rng(seed)
    pick = b.indptr[:-1] + (rng.random(len(keep)) * sizes).astype(np.int64)
    hidden = b.indices[pick].astype(np.int64)
    rest = b.copy()
    rest.data[pick] = 0
    rest.eliminate_zeros()
    return rest, hidden


def baskets_of(inter: Interactions, known: Interactions | None = None) -> sp.csr_matrix:
    """Binary baskets (one per session) x items over ``inter``'s item vocabulary."""
    log = inter.log.filter(pl.col("session").is_not_null() & (pl.col("weight") > 0))
    codes = log.select(pl.col("session").cast(pl.Categorical).to_physical().alias("b"), "item")
    codes = codes.unique()
    b = codes["b"].to_numpy().astype(np.int64)
    n_b = int(b.max()) + 1 if len(b) else 0
    return sp.csr_matrix(
        (np.ones(len(b), np.float32), (b, codes["item"].to_numpy())), shape=(n_b, inter.n_items)
    )


def basket_completion(
    model: Recommender,
    baskets: sp.csr_matrix,
    k: int = 10,
    *,
    seed: int = 0,
    n_bootstrap: int = 1000,
    known_items: np.ndarray | None = None,
) -> dict[str, Estimate | int]:
    """Hit rate of recovering the hidden item of each basket from the rest of it.

    ``known_items`` (bool per item) marks items the model could have learned; hidden
    items outside it still count as misses, so every model faces the same baskets.
    """
    rest, hidden = hide_one(baskets, seed)
    has_rest = np.diff(rest.indptr) > 0
    rest, hidden = rest[has_rest], hidden[has_rest]
    recs, _ = model.recommend_from_history(rest, k, exclude=rest)
    hits = (recs == hidden[:, None]).any(axis=1).astype(np.float64)
    out: dict[str, Estimate | int] = {
        "hit_rate": bootstrap_ci(hits, n_resamples=n_bootstrap, seed=seed),
        "baskets": len(hidden),
    }
    if known_items is not None:
        out["hidden_item_known"] = int(known_items[hidden].sum())
    return out
