"""Model catalog: short names ("ease", "als", ...) to classes, and ``make_model``."""

from __future__ import annotations

from typing import Any

from tastemaker.errors import ValidationFailedError
from tastemaker.models.als import ALSRecommender
from tastemaker.models.base import Recommender
from tastemaker.models.bpr import BPRRecommender
from tastemaker.models.content import ContentRecommender
from tastemaker.models.cooccurrence import FrequentlyBoughtTogetherRecommender
from tastemaker.models.ease import EASERecommender
from tastemaker.models.hybrid import HybridRecommender
from tastemaker.models.itemknn import ItemKNNRecommender
from tastemaker.models.popularity import PopularityRecommender
from tastemaker.models.session import SessionRecommender

MODELS: dict[str, type[Recommender]] = {
    "popularity": PopularityRecommender,
    "itemknn": ItemKNNRecommender,
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "ease": EASERecommender,
    "content": ContentRecommender,
    "fbt": FrequentlyBoughtTogetherRecommender,
    "session": SessionRecommender,
    "hybrid": HybridRecommender,
}


def make_model(name: str, **params: Any) -> Recommender:
    """Instantiate the model called ``name`` with hyperparameters ``params``.

    Raises:
        ValidationFailedError: unknown name or hyperparameter.
    """
    cls = MODELS.get(name)
    if cls is None:
        raise ValidationFailedError(
            f"unknown model '{name}' (choose from {', '.join(MODELS)})", field="model", value=name
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValidationFailedError(f"model '{name}': {exc}", field="params") from exc
