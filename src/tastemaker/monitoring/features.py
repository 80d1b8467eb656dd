"""The features of served lists that drift monitoring compares, computed one way for both sides.

One row per served item: the item's served ``score``, its ``popularity`` in the model
version (0..1, the version's own array), its catalog ``price``, ``category`` and ``brand``,
and the ``history`` size of the user it was served to (items the model scored from). The
reference side (training, ``monitoring.reference``) and the served side (impressions,
``monitoring.drift``) both end in :func:`feature_frame`, so the columns mean the same.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tastemaker.models.vocab import Vocabulary

#: Numeric features: population stability index and Kolmogorov-Smirnov.
NUMERIC_FEATURES = ("score", "popularity", "price", "history")
#: Categorical features (catalog columns): population stability index and chi-square.
CATEGORICAL_FEATURES = ("category", "brand")
#: The value a missing category is counted under.
MISSING = "(missing)"


def feature_frame(
    served: pl.DataFrame,
    items: pl.DataFrame,
    vocab: Vocabulary,
    popularity: np.ndarray,
) -> pl.DataFrame:
    """Every feature of each served item.

    Args:
        served: ``item_id`` (String), ``score`` and ``history`` (numbers, may be null).
        items: the catalog (``item_id`` and whichever of price, category, brand it has).
        vocab: the model version's item vocabulary (``popularity`` is aligned with it).
        popularity: the version's item popularity, scaled to 0..1.

    Returns:
        One row per row of ``served``: the columns of :data:`NUMERIC_FEATURES` (Float64,
        null where unknown) and :data:`CATEGORICAL_FEATURES` (String, :data:`MISSING`).
    """
    idx = vocab.index(served["item_id"].cast(pl.String))
    known = (idx >= 0) & (idx < len(popularity))
    pop = np.full(len(idx), np.nan)
    pop[known] = np.asarray(popularity, dtype=np.float64)[idx[known]]
    catalog = _catalog_columns(items)
    frame = served.select(
        pl.col("item_id").cast(pl.String),
        pl.col("score").cast(pl.Float64),
        pl.col("history").cast(pl.Float64),
    ).with_columns(popularity=pl.Series(pop).fill_nan(None))
    frame = frame.join(catalog, on="item_id", how="left", maintain_order="left")
    return frame.select(
        *[pl.col(c).cast(pl.Float64) for c in NUMERIC_FEATURES],
        *[pl.col(c).cast(pl.String).fill_null(MISSING) for c in CATEGORICAL_FEATURES],
    )


def _catalog_columns(items: pl.DataFrame) -> pl.DataFrame:
    """``item_id``, price, category and brand of the catalog (null columns where absent)."""
    wanted = {"price": pl.Float64, "category": pl.String, "brand": pl.String}
    if "item_id" not in items.columns:
        return pl.DataFrame(schema={"item_id": pl.String, **wanted})
    cols = [pl.col("item_id").cast(pl.String)]
    for name, dtype in wanted.items():
        cols.append(
            pl.col(name).cast(dtype) if name in items.columns else pl.lit(None, dtype).alias(name)
        )
    return items.select(cols).unique("item_id", keep="last")
