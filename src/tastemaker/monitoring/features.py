"""The features of served lists that drift monitoring compares, computed one way for both sides.

One row per served item: the item's served ``score``, its ``popularity`` in the model
version (0..1, the version's own array), its catalog ``price``, ``category`` and ``brand``
plus the catalog attributes profiles and segments use (``profiles.attributes``: fuel type,
body type, price band, ...), and the ``history`` size of the user it was served to (items
the model scored from). The
reference side (training, ``monitoring.reference``) and the served side (impressions,
``monitoring.drift``) both end in :func:`feature_frame`, so the columns mean the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from tastemaker.config import Settings
from tastemaker.models.vocab import Vocabulary
from tastemaker.profiles.catalog import with_attributes
from tastemaker.storage.base import Store

#: Numeric features: population stability index and Kolmogorov-Smirnov.
NUMERIC_FEATURES = ("score", "popularity", "price", "history")
#: Categorical features always compared (catalog columns): PSI and chi-square.
CATEGORICAL_FEATURES = ("category", "brand")
#: The value a missing category is counted under.
MISSING = "(missing)"
#: A frame column weighing its rows in the statistics (absent: every row weighs 1).
WEIGHT = "weight"


def categorical_features(settings: Settings) -> tuple[str, ...]:
    """Category, brand and the profiles' catalog attributes, once each, in that order."""
    return tuple(dict.fromkeys([*CATEGORICAL_FEATURES, *settings.profiles.attributes]))


def catalog_frame(store: Store, settings: Settings) -> pl.DataFrame:
    """The catalog with every categorical feature as a text column (price band derived)."""
    return with_attributes(store.items(), categorical_features(settings),
                           settings.profiles.price_bands)  # fmt: skip


def feature_frame(
    served: pl.DataFrame,
    items: pl.DataFrame,
    vocab: Vocabulary,
    popularity: np.ndarray,
    categorical: Sequence[str] = CATEGORICAL_FEATURES,
) -> pl.DataFrame:
    """Every feature of each served item.

    Args:
        served: ``item_id`` (String), ``score`` and ``history`` (numbers, may be null).
        items: the catalog (``item_id``, price and the ``categorical`` columns it has;
            :func:`catalog_frame`).
        vocab: the model version's item vocabulary (``popularity`` is aligned with it).
        popularity: the version's item popularity, scaled to 0..1.
        categorical: the categorical features.

    Returns:
        One row per row of ``served``: the columns of :data:`NUMERIC_FEATURES` (Float64,
        null where unknown) and of ``categorical`` (String, :data:`MISSING` where absent).
    """
    idx = vocab.index(served["item_id"].cast(pl.String))
    known = (idx >= 0) & (idx < len(popularity))
    pop = np.full(len(idx), np.nan)
    pop[known] = np.asarray(popularity, dtype=np.float64)[idx[known]]
    catalog = _catalog_columns(items, categorical)
    frame = served.select(
        pl.col("item_id").cast(pl.String),
        pl.col("score").cast(pl.Float64),
        pl.col("history").cast(pl.Float64),
    ).with_columns(popularity=pl.Series(pop).fill_nan(None))
    frame = frame.join(catalog, on="item_id", how="left", maintain_order="left")
    return frame.select(
        *[pl.col(c).cast(pl.Float64) for c in NUMERIC_FEATURES],
        *[pl.col(c).cast(pl.String).fill_null(MISSING) for c in categorical],
    )


def _catalog_columns(items: pl.DataFrame, categorical: Sequence[str]) -> pl.DataFrame:
    """``item_id``, price and the categorical columns of the catalog (null where absent)."""
    wanted: dict[str, pl.DataType] = {
        "price": pl.Float64(),
        **{c: pl.String() for c in categorical},
    }
    if "item_id" not in items.columns:
        return pl.DataFrame(schema={"item_id": pl.String, **wanted})
    cols = [pl.col("item_id").cast(pl.String)]
    for name, dtype in wanted.items():
        cols.append(
            pl.col(name).cast(dtype) if name in items.columns else pl.lit(None, dtype).alias(name)
        )
    return items.select(cols).unique("item_id", keep="last")
