"""The model catalog: short names ("ease", "als", ...) to classes, ``make_model``, ``load_model``.

The one registry of models. Each model class enters it with the :func:`register`
decorator where it is defined, and ``tastemaker/models/__init__.py`` imports every model
module, so the catalog is complete as soon as anything in ``tastemaker.models`` is
imported. This module imports no model: the hybrid builds and loads its components
through it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from tastemaker.errors import ValidationFailedError
from tastemaker.models.base import Recommender, saved_model_name

_CLASSES: dict[str, type[Recommender]] = {}
#: Model classes by short name, in registration order (read-only view).
MODELS: Mapping[str, type[Recommender]] = MappingProxyType(_CLASSES)

_R = TypeVar("_R", bound=type[Recommender])


def register(cls: _R) -> _R:
    """Class decorator: enter the model class ``cls`` in the catalog under ``cls.name``.

    Raises:
        TypeError: another class already has that name.
    """
    known = _CLASSES.get(cls.name)
    if known is not None and known is not cls:
        raise TypeError(f"model name '{cls.name}' is taken by {known.__qualname__}")
    _CLASSES[cls.name] = cls
    return cls


def model_class(name: str) -> type[Recommender]:
    """The model class called ``name``.

    Raises:
        ValidationFailedError: unknown name.
    """
    cls = _CLASSES.get(name)
    if cls is None:
        raise ValidationFailedError(
            f"unknown model '{name}' (choose from {', '.join(_CLASSES)})",
            field="model",
            value=name,
        )
    return cls


def make_model(name: str, **params: Any) -> Recommender:
    """Instantiate the model called ``name`` with hyperparameters ``params``.

    Raises:
        ValidationFailedError: unknown name or hyperparameter.
    """
    cls = model_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValidationFailedError(f"model '{name}': {exc}", field="params") from exc


def load_model(path: Path) -> Recommender:
    """Read a model of any class written by ``Recommender.save`` into folder ``path``.

    Raises:
        ValidationFailedError: the folder names a model the catalog does not know.
    """
    return model_class(saved_model_name(path)).load(path)
