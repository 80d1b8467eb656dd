"""Purchase-propensity classifiers: gradient-boosted trees (LightGBM) or logistic regression,
calibrated on a later slice of time, with per-prediction feature contributions.

LightGBM and scikit-learn fit; the fitted model keeps the booster and, as plain numbers,
the logistic regression and the calibrator (:mod:`tastemaker.propensity.parts`), which is
what predicts and what is saved (:mod:`tastemaker.propensity.artifact`, no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import expit

from tastemaker.errors import ValidationFailedError
from tastemaker.propensity.artifact import (
    BOOSTER_FILE,
    LEGACY_FILE,
    MODEL_FILE,
    ModelFile,
    read_legacy,
    read_model,
    write_model,
)
from tastemaker.propensity.parts import (
    Calibration,
    LinearPart,
    calibration_from,
    calibration_from_json,
    log1p_clipped,
)

if TYPE_CHECKING:
    import lightgbm as lgb

KINDS = ("lightgbm", "logistic")

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


PROBABILITY_EPS = 1e-6  # no answer is exactly 0 or 1: log loss stays finite, odds defined


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
        #: The trees (``lightgbm``), or the logistic regression's numbers (``logistic``).
        self.booster: lgb.Booster | None = None
        self.linear: LinearPart | None = None
        self.calibrator: Calibration | None = None
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
            estimator = self._fit_trees(x, y, x_cal, y_cal)
        else:
            estimator = self._fit_logistic(x, y)
        calibrated = None
        if self.calibration != "none":
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.frozen import FrozenEstimator

            calibrated = CalibratedClassifierCV(
                FrozenEstimator(estimator), method=self.calibration
            ).fit(x_cal, y_cal)
        return self._keep(estimator, calibrated)

    def _fit_trees(self, x: np.ndarray, y: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray) -> Any:
        import lightgbm as lgb

        estimator = lgb.LGBMClassifier(**self.params, random_state=self.seed, n_jobs=2, verbose=-1)
        estimator.fit(
            x,
            y,
            eval_X=(x_cal,),
            eval_y=(y_cal,),
            callbacks=[lgb.early_stopping(30, verbose=False)],
        )
        self.best_iteration = int(estimator.best_iteration_ or self.params["n_estimators"])
        return estimator

    def _fit_logistic(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        return make_pipeline(
            FunctionTransformer(log1p_clipped),
            StandardScaler(),
            LogisticRegression(max_iter=2000, random_state=self.seed, **self.params),
        ).fit(x, y)

    def _keep(self, estimator: Any, calibrated: Any) -> PropensityModel:
        """Keep what a fitted estimator (and calibrator, or None) learned, as plain parts.

        scikit-learn calibrates an estimator's ``decision_function`` (log-odds) when it has
        one: the logistic pipeline and LightGBM from 4.7 do.
        """
        if calibrated is not None and not hasattr(estimator, "decision_function"):
            raise ValidationFailedError(
                "this propensity model was calibrated on probabilities (LightGBM before 4.7): "
                "retrain it (`tastemaker propensity train`)"
            )
        if self.kind == "lightgbm":
            self.booster = estimator.booster_
        else:
            self.linear = LinearPart.from_pipeline(estimator)
        self.calibrator = None if calibrated is None else calibration_from(calibrated)
        return self

    def _check_fitted(self) -> None:
        if self.booster is None and self.linear is None:
            raise ValidationFailedError("the propensity model is not fitted")

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """Each row's log-odds before calibration (what the calibrator maps)."""
        self._check_fitted()
        if self.booster is not None:
            return np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)
        assert self.linear is not None
        return self.linear.log_odds(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Calibrated purchase probabilities, one per row, within [PROBABILITY_EPS,
        1 - PROBABILITY_EPS] (a calibrator can map a whole bin to exactly 0 or 1)."""
        if len(x) == 0:
            return np.zeros(0)
        if self.calibrator is not None:
            p = self.calibrator.apply(self.log_odds(x))
        elif self.booster is not None:
            p = np.asarray(self.booster.predict(x), dtype=np.float64)
        else:
            p = np.asarray(expit(self.log_odds(x)))
        return np.clip(p, PROBABILITY_EPS, 1.0 - PROBABILITY_EPS)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each feature's additive share of each row's log-odds (before calibration).

        Trees: exact SHAP values (LightGBM ``pred_contrib``); logistic: coefficient times the
        standardized value.
        """
        self._check_fitted()
        if len(x) == 0:
            return np.zeros((0, len(self.feature_names)))
        if self.booster is not None:
            raw = self.booster.predict(x, pred_contrib=True)
            return np.asarray(raw)[:, : len(self.feature_names)]
        assert self.linear is not None
        return np.asarray(self.linear.standardized(x) * self.linear.coef)

    def importance(self) -> dict[str, float]:
        """Global importance per feature: total gain (trees) or |coefficient| (logistic),
        normalized to sum to 1."""
        self._check_fitted()
        if self.booster is not None:
            raw = self.booster.feature_importance(importance_type="gain")
        else:
            assert self.linear is not None
            raw = np.abs(self.linear.coef)
        values = np.asarray(raw, dtype=np.float64)
        total = values.sum() or 1.0
        return {n: float(v / total) for n, v in zip(self.feature_names, values, strict=True)}

    def save(self, folder: Path) -> None:
        """Write the fitted model into ``folder``: ``propensity.json`` and, for trees, the
        booster in LightGBM's text format (``booster.txt``)."""
        self._check_fitted()
        spec = ModelFile(
            kind=self.kind,
            feature_names=self.feature_names,
            params=self.params,
            calibration=self.calibration,
            seed=self.seed,
            best_iteration=self.best_iteration,
            booster=BOOSTER_FILE if self.booster is not None else None,
            linear=self.linear.to_json() if self.linear is not None else None,
            calibrator=self.calibrator.to_json() if self.calibrator is not None else None,
        )
        write_model(folder, spec, self.booster)

    @staticmethod
    def load(folder: Path) -> PropensityModel:
        """Read a model written by :meth:`save`, or pickled by an older version (with a
        DeprecationWarning to retrain; only load folders you wrote yourself).

        Raises:
            ValidationFailedError: the folder holds no propensity model, or a damaged one.
        """
        folder = Path(folder)
        if (folder / MODEL_FILE).is_file():
            spec, booster = read_model(folder)
            model = PropensityModel(
                spec.kind, spec.feature_names, spec.params, spec.calibration, spec.seed
            )
            model.best_iteration = spec.best_iteration
            model.booster = booster
            if spec.linear is not None:
                model.linear = LinearPart.from_json(spec.linear.model_dump())
            if spec.calibrator is not None:
                model.calibrator = calibration_from_json(spec.calibrator.model_dump())
            return model
        if (folder / LEGACY_FILE).is_file():
            old = read_legacy(folder)
            model = PropensityModel(
                old["kind"], old["feature_names"], old["params"], old["calibration"], old["seed"]
            )
            model.best_iteration = old.get("best_iteration")
            return model._keep(old["estimator"], old["calibrator"])
        raise ValidationFailedError(
            f"no propensity model in {folder} (neither {MODEL_FILE} nor {LEGACY_FILE})",
            field="folder",
        )
