"""Data sets: the synthetic marketplace generator (and, later, public data set loaders)."""

from tastemaker.datasets._frames import LoadedDataset
from tastemaker.datasets.marketplace import (
    FILE_FORMATS,
    Marketplace,
    MarketplaceConfig,
    generate_marketplace,
    regenerate_marketplace,
    write_marketplace,
)
from tastemaker.datasets.movielens import load_movielens
from tastemaker.datasets.retail import load_online_retail
from tastemaker.datasets.retailrocket import load_retailrocket

__all__ = [
    "FILE_FORMATS",
    "LoadedDataset",
    "Marketplace",
    "MarketplaceConfig",
    "generate_marketplace",
    "load_movielens",
    "load_online_retail",
    "load_retailrocket",
    "regenerate_marketplace",
    "write_marketplace",
]
