"""Held-out interactions and NDCG@k: what the hybrid fits its blend weights on.

A per-user random holdout (each user's pairs shuffled and cut by ratio) and the NDCG of
top-k lists against held-out items. Offline evaluation builds its random and leave-last
splits (``evaluation.splits``) and its ranking metrics (``evaluation.metrics``) on these
same functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import scipy.sparse as sp

from tastemaker.errors import ValidationFailedError
from tastemaker.models.interactions import Interactions


def pair_ranks(inter: Interactions, seed: int, order_by_time: bool) -> pl.DataFrame:
    """Unique user-item pairs with ``rank`` inside the user and ``count`` per user.

    Ranks are random (seeded) or newest first (``order_by_time``).
    """
    pairs = inter.log.group_by("user", "item").agg(pl.col("timestamp").max()).sort("user", "item")
    if order_by_time:
        key = pl.col("timestamp").rank("ordinal", descending=True).over("user")
        pairs = pairs.sort("user", "timestamp", "item", descending=[False, True, False])
        pairs = pairs.with_columns((key - 1).alias("rank"))
    else:
        rng = np.random.default_rng(seed)
        pairs = pairs.with_columns(pl.Series("r", rng.random(pairs.height)))
        pairs = pairs.with_columns((pl.col("r").rank("ordinal").over("user") - 1).alias("rank"))
    return pairs.with_columns(pl.len().over("user").alias("count"))


def assign_parts(inter: Interactions, pairs: pl.DataFrame, n_parts: int) -> list[Interactions]:
    """``n_parts`` interactions, part ``p`` holding every event of the pairs tagged ``part == p``.

    Whole pairs go to one part, so a repeated view cannot leak a held-out pair.
    """
    tagged = inter.log.join(pairs.select("user", "item", "part"), on=["user", "item"], how="left")
    return [inter.with_log(tagged.filter(pl.col("part") == p).drop("part")) for p in range(n_parts)]


def random_holdout(
    inter: Interactions, ratios: Sequence[float] = (0.75, 0.25), *, seed: int = 0
) -> list[Interactions]:
    """Per-user stratified random split (Microsoft Recommenders' ``python_stratified_split``).

    Each user's pairs are shuffled and cut at ``round(cumsum(ratios) x n)``.

    Returns:
        One part per ratio, in order.

    Raises:
        ValidationFailedError: not 2 or 3 positive ratios.
    """
    r = np.asarray(ratios, dtype=np.float64)
    if len(r) not in (2, 3) or (r <= 0).any():
        raise ValidationFailedError(f"ratios must be 2 or 3 positive numbers, got {list(ratios)}")
    bounds = np.cumsum(r / r.sum())[:-1]
    pairs = pair_ranks(inter, seed, order_by_time=False)
    part = pl.lit(len(bounds), dtype=pl.Int32)
    for j in reversed(range(len(bounds))):
        cut = (pl.col("count") * float(bounds[j])).round(0)
        part = pl.when(pl.col("rank") < cut).then(pl.lit(j, dtype=pl.Int32)).otherwise(part)
    return assign_parts(inter, pairs.with_columns(part.alias("part")), len(r))


def hits(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """Boolean ``[n, k]``: is the item at each rank relevant to the user?

    Args:
        recs: item indices ``[n_users, >=k]``, -1 padded.
        relevant: CSR ``[n_users, n_items]``, nonzero = relevant, rows aligned with ``recs``.
        k: cut-off.
    """
    r = np.asarray(recs)[:, :k].astype(np.int64)
    n = r.shape[0]
    rows = np.repeat(np.arange(n), r.shape[1])
    cols = r.ravel()
    ok = cols >= 0
    out = np.zeros(rows.shape, dtype=bool)
    if ok.any():
        rel = sp.csr_matrix(relevant)
        out[ok] = np.asarray(rel[rows[ok], cols[ok]]).ravel() != 0
    return out.reshape(r.shape)


def n_relevant(relevant: sp.csr_matrix) -> np.ndarray:
    """Number of relevant items per user."""
    return np.asarray((sp.csr_matrix(relevant) != 0).sum(axis=1)).ravel().astype(np.float64)


def discounts(k: int) -> np.ndarray:
    """DCG gains ``1 / log2(i + 1)`` of ranks ``i = 1..k``."""
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_from_hits(hit: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    """Per user: DCG of ``hit`` (``[n, <=k]``) over the ideal DCG of ``min(n_rel, k)`` hits.

    Users without a relevant item score 0.
    """
    h = np.asarray(hit, dtype=np.float64)
    disc = discounts(k)
    ideal = np.cumsum(disc)[np.clip(np.minimum(n_rel, k).astype(int) - 1, 0, None)]
    return np.where(n_rel > 0, (h * disc[: h.shape[1]]).sum(axis=1) / ideal, 0.0)


def ndcg_at_k(recs: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """Per user: NDCG@k of the lists ``recs`` against ``relevant`` (binary relevance)."""
    return ndcg_from_hits(hits(recs, relevant, k), n_relevant(relevant), k)
