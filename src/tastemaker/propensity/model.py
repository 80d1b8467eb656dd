"""Purchase-propensity classifiers: gradient-boosted trees (LightGBM) or logistic regression,
calibrated on a later slice of time, with per-prediction feature contributions."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from tastemaker.errors import ValidationFailedError

KINDS = ("lightgbm", "logistic")
MODEL_FILE = "propensity.pkl"

_LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 600,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}
_LOGISTIC_DEFAULTS: dict[str, Any] = {"C": 1.0}


def _log1p(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(x, 0.0, None))


class PropensityModel:
    """Probability that a user buys an item, from the propensity feature columns.

    Args:
        kind: ``lightgbm`` (default) or ``logistic`` (log1p, standardize, L2 logistic).
        feature_names: the column names, in the order of the matrices passed in.
        params: overrides of the estimator's defaults.
        calibration: ``isotonic``, ``sigmoid`` or ``none``.
        seed: random seed.
    """

    def __init__(
        self,
        kind: str,
        feature_names: list[str],
        params: dict[str, Any] | None = None,
        calibration: str = "isotonic",
        seed: int = 0,
    ) -> None:
        if kind not in KINDS:
            raise ValidationFailedError(f"propensity model '{kind}' is unknown (known: {KINDS})")
        if calibration not in ("isotonic", "sigmoid", "none"):
            raise ValidationFailedError(
                f"calibration '{calibration}' is unknown (isotonic, sigmoid or none)"
            )
        defaults = _LIGHTGBM_DEFAULTS if kind == "lightgbm" else _LOGISTIC_DEFAULTS
        self.kind = kind
        self.feature_names = list(feature_names)
        self.params = {**defaults, **(params or {})}
        self.calibration = calibration
        self.seed = seed
        self.estimator: Any = None
        self.calibrator: Any = None
        self.best_iteration: int | None = None

    def fit(
        self, x: np.ndarray, y: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray
    ) -> PropensityModel:
        """Fit on (x, y); stop boosting and calibrate on the later slice (x_cal, y_cal).

        Raises:
            ValidationFailedError: a slice has only one class.
        """
        for name, labels in (("training", y), ("calibration", y_cal)):
            if len(np.unique(labels)) < 2:
                raise ValidationFailedError(
                    f"the {name} slice has only one class ({len(labels)} examples, "
                    f"{int(np.sum(labels))} purchases): more history or a longer horizon needed"
                )
        if self.kind == "lightgbm":
            import lightgbm as lgb

            self.estimator = lgb.LGBMClassifier(
                **self.params, random_state=self.seed, n_jobs=2, verbose=-1
            )
            self.estimator.fit(
                x,
                y,
                eval_X=(x_cal,),
                eval_y=(y_cal,),
                callbacks=[lgb.early_stopping(30, verbose=False)],
            )
            self.best_iteration = int(self.estimator.best_iteration_ or self.params["n_estimators"])
        else:
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import FunctionTransformer, StandardScaler

            self.estimator = make_pipeline(
                FunctionTransformer(_log1p),
                StandardScaler(),
                LogisticRegression(max_iter=2000, random_state=self.seed, **self.params),
            )
            self.estimator.fit(x, y)
        if self.calibration != "none":
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.frozen import FrozenEstimator

            self.calibrator = CalibratedClassifierCV(
                FrozenEstimator(self.estimator), method=self.calibration
            ).fit(x_cal, y_cal)
        return self

    def _fitted(self) -> Any:
        if self.estimator is None:
            raise ValidationFailedError("the propensity model is not fitted")
        return self.calibrator if self.calibrator is not None else self.estimator

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated purchase probabilities, one per row."""
        if len(x) == 0:
            return np.zeros(0)
        return np.asarray(self._fitted().predict_proba(x)[:, 1], dtype=np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's additive share of each row's log-odds (before calibration).

        Trees: exact SHAP values (LightGBM ``pred_contrib``); logistic: coefficient times the
        standardized value.
        """
        self._fitted()
        if len(x) == 0:
            return np.zeros((0, len(self.feature_names)))
        if self.kind == "lightgbm":
            raw = self.estimator.booster_.predict(x, pred_contrib=True)
            return np.asarray(raw)[:, : len(self.feature_names)]
        log1p, scaler, logistic = (step for _, step in self.estimator.steps)
        z = scaler.transform(log1p.transform(x))
        return np.asarray(z * logistic.coef_[0])

    def importance(self) -> dict[str, float]:
        """Global importance per feature: total gain (trees) or |coefficient| (logistic),
        normalized to sum to 1."""
        self._fitted()
        if self.kind == "lightgbm":
            raw = self.estimator.booster_.feature_importance(importance_type="gain")
        else:
            raw = np.abs(self.estimator.steps[-1][1].coef_[0])
        values = np.asarray(raw, dtype=np.float64)
        total = values.sum() or 1.0
        return {n: float(v / total) for n, v in zip(self.feature_names, values, strict=True)}

    def save(self, folder: Path) -> None:
        """Write the fitted model into ``folder``."""
        with open(Path(folder) / MODEL_FILE, "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(folder: Path) -> PropensityModel:
        """Read a model written by :meth:`save` (only load folders you wrote yourself)."""
        with open(Path(folder) / MODEL_FILE, "rb") as handle:
            model = pickle.load(handle)  # the workspace's own artifact
        if not isinstance(model, PropensityModel):
            raise ValidationFailedError(f"{folder / MODEL_FILE} is not a propensity model")
        return model
