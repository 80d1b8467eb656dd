"""Recommendation models: one `Recommender` interface, many implementations.

Importing the package imports every model module, so the catalog (``MODELS``,
``make_model``, ``load_model``) knows every model.
"""

# every model module, in catalog order (each registers its class on import)
# isort: off
from tastemaker.models import (  # noqa: F401
    popularity,
    itemknn,
    als,
    bpr,
    ease,
    content,
    cooccurrence,
    session,
    hybrid,
)

# isort: on
from tastemaker.models.base import Recommender
from tastemaker.models.catalog import MODELS, load_model, make_model, model_class
from tastemaker.models.interactions import Interactions
from tastemaker.models.rows import Row
from tastemaker.models.scores import top_k
from tastemaker.models.vocab import Vocabulary

__all__ = [
    "MODELS",
    "Interactions",
    "Recommender",
    "Row",
    "Vocabulary",
    "load_model",
    "make_model",
    "model_class",
    "top_k",
]
