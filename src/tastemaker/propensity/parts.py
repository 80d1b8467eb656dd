"""The fitted numbers of a propensity model that are not trees, as plain arrays.

scikit-learn fits the logistic regression and the calibrator; what they learned is taken
out into these parts, which predict (the same formulas scikit-learn applies) and are saved
as JSON. The LightGBM booster is kept as it is and saved in LightGBM's own text format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit


def log1p_clipped(x: np.ndarray) -> np.ndarray:
    """``log(1 + x)`` of the counts, negatives taken as 0 (the logistic model's input)."""
    return np.log1p(np.clip(x, 0.0, None))


@dataclass(frozen=True)
class LinearPart:
    """Logistic regression on standardized log1p features.

    The log-odds are ``z @ coef + intercept`` with ``z = (log1p(x) - mean) / scale``.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> LinearPart:
        """The numbers of a fitted ``log1p -> StandardScaler -> LogisticRegression`` pipeline."""
        _, scaler, logistic = (step for _, step in pipeline.steps)
        return cls(
            mean=np.asarray(scaler.mean_, dtype=np.float64),
            scale=np.asarray(scaler.scale_, dtype=np.float64),
            coef=np.asarray(logistic.coef_[0], dtype=np.float64),
            intercept=float(logistic.intercept_[0]),
        )

    def standardized(self, x: np.ndarray) -> np.ndarray:
        """The standardized log1p features ``z`` of each row."""
        return (log1p_clipped(x) - self.mean) / self.scale

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """Each row's log-odds (scikit-learn's ``decision_function``)."""
        return np.asarray(self.standardized(x) @ self.coef[:, None] + self.intercept).reshape(-1)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready numbers (floats round-trip exactly)."""
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearPart:
        """The part written by :meth:`to_json`."""
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
            coef=np.asarray(data["coef"], dtype=np.float64),
            intercept=float(data["intercept"]),
        )


@dataclass(frozen=True)
class IsotonicCalibration:
    """Isotonic calibration: linear interpolation through the fitted thresholds, held at
    the end values outside them (scikit-learn's ``out_of_bounds="clip"``)."""

    x: np.ndarray
    y: np.ndarray

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores."""
        return np.minimum(np.interp(scores, self.x, self.y), 1.0)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready thresholds."""
        return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()}


@dataclass(frozen=True)
class SigmoidCalibration:
    """Sigmoid (Platt) calibration: ``1 / (1 + exp(a * score + b))``."""

    a: float
    b: float

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores."""
        return np.asarray(expit(-(self.a * scores + self.b)), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"method": "sigmoid", "a": self.a, "b": self.b}


Calibration = IsotonicCalibration | SigmoidCalibration


def calibration_from(calibrated: Any) -> Calibration:
    """The calibrator inside a fitted ``CalibratedClassifierCV`` over a frozen estimator
    (one classifier, one calibrator for the positive class)."""
    (classifier,) = calibrated.calibrated_classifiers_
    (fitted,) = classifier.calibrators
    if classifier.method == "isotonic":
        return IsotonicCalibration(
            np.asarray(fitted.X_thresholds_, dtype=np.float64),
            np.asarray(fitted.y_thresholds_, dtype=np.float64),
        )
    return SigmoidCalibration(float(fitted.a_), float(fitted.b_))


def calibration_from_json(data: dict[str, Any]) -> Calibration:
    """The calibration written by ``to_json``."""
    if data["method"] == "isotonic":
        return IsotonicCalibration(
            np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64)
        )
    return SigmoidCalibration(float(data["a"]), float(data["b"]))
