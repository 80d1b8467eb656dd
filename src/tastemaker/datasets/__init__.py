"""Data sets: the synthetic marketplace generator (and, later, public data set loaders)."""

from tastemaker.datasets.marketplace import (
    FILE_FORMATS,
    Marketplace,
    MarketplaceConfig,
    generate_marketplace,
    regenerate_marketplace,
    write_marketplace,
)

__all__ = [
    "FILE_FORMATS",
    "Marketplace",
    "MarketplaceConfig",
    "generate_marketplace",
    "regenerate_marketplace",
    "write_marketplace",
]
