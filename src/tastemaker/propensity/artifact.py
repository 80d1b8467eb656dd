"""A propensity model on disk, without pickle.

A model folder holds ``propensity.json`` (kind, feature names, parameters, the logistic
regression's numbers and the calibrator's) and, for trees, ``booster.txt``: the LightGBM
booster in LightGBM's own text format. Floats are written at full precision, so a model
read back predicts exactly what it predicted when saved.

Folders written by older versions hold ``propensity.pkl`` (the whole model object
pickled); :func:`read_legacy` still reads them, with a :class:`DeprecationWarning` to
retrain. Only read folders of your own workspace: unpickling runs code.
"""

from __future__ import annotations

import json
import logging
import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tastemaker.errors import ValidationFailedError
from tastemaker.propensity.parts import log1p_clipped

if TYPE_CHECKING:
    import lightgbm as lgb

MODEL_FILE = "propensity.json"
BOOSTER_FILE = "booster.txt"
#: The pickled model object of older versions.
LEGACY_FILE = "propensity.pkl"
#: Where the pickled objects' module was before the propensity package held it.
_LEGACY_MODULE = "tastemaker.models.propensity"

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinearSpec(_Strict):
    """Logistic regression numbers (see :class:`~tastemaker.propensity.parts.LinearPart`)."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float


class IsotonicSpec(_Strict):
    """Isotonic calibration thresholds (ascending ``x``, their ``y``)."""

    method: Literal["isotonic"]
    x: list[float] = Field(min_length=1)
    y: list[float] = Field(min_length=1)


class SigmoidSpec(_Strict):
    """Sigmoid calibration parameters."""

    method: Literal["sigmoid"]
    a: float
    b: float


class ModelFile(_Strict):
    """The contents of ``propensity.json``."""

    format: Literal[1] = 1
    kind: Literal["lightgbm", "logistic"]
    feature_names: list[str] = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    calibration: Literal["isotonic", "sigmoid", "none"]
    seed: int = 0
    best_iteration: int | None = None
    #: The booster's file in the folder (trees only).
    booster: Literal["booster.txt"] | None = None
    linear: LinearSpec | None = None
    calibrator: Annotated[IsotonicSpec | SigmoidSpec, Field(discriminator="method")] | None = None

    @model_validator(mode="after")
    def _parts_match_the_kind(self) -> ModelFile:
        if self.kind == "lightgbm" and self.booster is None:
            raise ValueError("booster: a lightgbm model names its booster file")
        if self.kind == "logistic":
            if self.linear is None:
                raise ValueError("linear: a logistic model needs its coefficients")
            n = len(self.feature_names)
            for name in ("mean", "scale", "coef"):
                if len(getattr(self.linear, name)) != n:
                    count = len(getattr(self.linear, name))
                    raise ValueError(f"linear.{name}: {count} values for {n} features")
        method = self.calibrator.method if self.calibrator is not None else "none"
        if method != self.calibration:
            raise ValueError(
                f"calibrator: '{method}' does not match calibration '{self.calibration}'"
            )
        if isinstance(self.calibrator, IsotonicSpec) and len(self.calibrator.x) != len(
            self.calibrator.y
        ):
            raise ValueError("calibrator: as many x as y thresholds expected")
        return self


def write_model(folder: Path, spec: ModelFile, booster: lgb.Booster | None) -> None:
    """Write the booster (if any) in LightGBM's text format, then ``propensity.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if booster is not None:
        booster.save_model(folder / BOOSTER_FILE)
    text = json.dumps(spec.model_dump(), indent=1, allow_nan=False)
    (folder / MODEL_FILE).write_text(text + "\n")


def read_model(folder: Path) -> tuple[ModelFile, lgb.Booster | None]:
    """The checked ``propensity.json`` of ``folder`` and its booster (None for logistic).

    Raises:
        ValidationFailedError: the file is not valid JSON or a field is wrong (named).
    """
    path = Path(folder) / MODEL_FILE
    try:
        spec = ModelFile.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise ValidationFailedError(f"{path}: not valid JSON ({exc})", field="file") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        # a field's own error has its location; the cross-field checks name the field first
        reason = first["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in first["loc"])
        field = where or reason.split(":")[0]
        text = f"{where}: {reason}" if where else reason
        raise ValidationFailedError(f"{path}: {text}", field=field) from exc
    if spec.booster is None:
        return spec, None
    import lightgbm as lgb

    booster = lgb.Booster(model_file=Path(folder) / spec.booster)
    if booster.num_feature() != len(spec.feature_names):
        raise ValidationFailedError(
            f"{path}: the booster has {booster.num_feature()} features, "
            f"the model names {len(spec.feature_names)}",
            field="feature_names",
        )
    return spec, booster


class _PickledModel:
    """Receives the attributes of a pickled model object of an older version."""


class _LegacyUnpickler(pickle.Unpickler):
    """Unpickles the old model object, whose module no longer exists."""

    def find_class(self, module: str, name: str) -> Any:
        """The old module's two pickled names mapped to their stand-ins."""
        if module == _LEGACY_MODULE:
            known = {"PropensityModel": _PickledModel, "_log1p": log1p_clipped}
            if name not in known:
                raise pickle.UnpicklingError(f"{module}.{name} is not part of a propensity model")
            return known[name]
        return super().find_class(module, name)


def read_legacy(folder: Path) -> dict[str, Any]:
    """The attributes of a model pickled by an older version (kind, feature_names, params,
    calibration, seed, best_iteration, and the fitted ``estimator`` and ``calibrator``).

    Raises:
        ValidationFailedError: the file holds something else.
    """
    path = Path(folder) / LEGACY_FILE
    message = (
        f"{path} is a propensity model pickled by an older tastemaker; it still loads, but "
        "pickled models will stop loading: retrain it (`tastemaker propensity train`) to "
        f"save it as {MODEL_FILE} + {BOOSTER_FILE}"
    )
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    log.warning(message)  # Python hides deprecation warnings by default: operators see this
    with open(path, "rb") as handle:
        model = _LegacyUnpickler(handle).load()  # the workspace's own artifact
    if not isinstance(model, _PickledModel):
        raise ValidationFailedError(f"{path} is not a propensity model", field="file")
    return dict(vars(model))
