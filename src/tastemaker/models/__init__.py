"""Recommendation models: one `Recommender` interface, many implementations."""

from tastemaker.models.base import Recommender, top_k
from tastemaker.models.catalog import MODELS, make_model
from tastemaker.models.interactions import Interactions
from tastemaker.models.vocab import Vocabulary

__all__ = ["MODELS", "Interactions", "Recommender", "Vocabulary", "make_model", "top_k"]
