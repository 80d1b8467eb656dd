"""Purchase propensity: features, labelled examples, the classifier, training out of time,
versions in the propensity registry, and online scoring.

The names below are imported from their modules on first use, so importing one light
module of this package (the command line imports ``examples`` for its option types) does
not load the model, registry and scoring code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tastemaker.propensity.examples import LabelSpec, cutoffs, labelled_examples
    from tastemaker.propensity.features import (
        FEATURE_NAMES,
        FEATURES,
        PropensityWindows,
        item_events,
        item_stats,
        pair_features,
        schema_hash,
    )
    from tastemaker.propensity.holdout import holdout_examples, per_user_loss
    from tastemaker.propensity.model import KINDS, PropensityModel
    from tastemaker.propensity.scorer import (
        Factor,
        ItemPropensity,
        PropensityAnswer,
        PropensityScorer,
        answer_dict,
        as_of_ms,
    )
    from tastemaker.propensity.training import (
        PropensityConfig,
        TrainResult,
        config_of,
        evaluate_models,
        registry_of,
        split_by_time,
        train_propensity,
        windows_of,
    )

#: Public name -> the module of this package that defines it.
_HOMES = {
    "LabelSpec": "examples",
    "cutoffs": "examples",
    "labelled_examples": "examples",
    "FEATURES": "features",
    "FEATURE_NAMES": "features",
    "PropensityWindows": "features",
    "item_events": "features",
    "item_stats": "features",
    "pair_features": "features",
    "schema_hash": "features",
    "holdout_examples": "holdout",
    "per_user_loss": "holdout",
    "KINDS": "model",
    "PropensityModel": "model",
    "Factor": "scorer",
    "ItemPropensity": "scorer",
    "PropensityAnswer": "scorer",
    "PropensityScorer": "scorer",
    "answer_dict": "scorer",
    "as_of_ms": "scorer",
    "PropensityConfig": "training",
    "TrainResult": "training",
    "config_of": "training",
    "evaluate_models": "training",
    "registry_of": "training",
    "split_by_time": "training",
    "train_propensity": "training",
    "windows_of": "training",
}

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "KINDS",
    "Factor",
    "ItemPropensity",
    "LabelSpec",
    "PropensityAnswer",
    "PropensityConfig",
    "PropensityModel",
    "PropensityScorer",
    "PropensityWindows",
    "TrainResult",
    "answer_dict",
    "as_of_ms",
    "config_of",
    "cutoffs",
    "evaluate_models",
    "holdout_examples",
    "item_events",
    "item_stats",
    "labelled_examples",
    "pair_features",
    "per_user_loss",
    "registry_of",
    "schema_hash",
    "split_by_time",
    "train_propensity",
    "windows_of",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module when it is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included."""
    return sorted({*globals(), *__all__})
