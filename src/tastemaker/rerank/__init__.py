"""Re-ranking: hard filters, business rules, diversity and exploration over an `ItemList`."""

from tastemaker.rerank.chain import RerankConfig, build_stages, rerank
from tastemaker.rerank.context import Exposure, RerankContext
from tastemaker.rerank.filters import Filters, parse_filters

__all__ = [
    "Exposure",
    "Filters",
    "RerankConfig",
    "RerankContext",
    "build_stages",
    "parse_filters",
    "rerank",
]
