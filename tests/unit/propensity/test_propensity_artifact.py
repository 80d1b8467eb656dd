"""A propensity model on disk: LightGBM's text format plus JSON, read back to the same
probabilities; folders pickled by older versions still load, with a warning to retrain."""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from tastemaker.errors import ValidationFailedError
from tastemaker.propensity.model import PROBABILITY_EPS, PropensityModel

NAMES = ["carts", "noise", "views"]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.poisson(0.3, n), rng.normal(size=n), rng.poisson(2.0, n)])
    logit = -3.0 + 2.0 * x[:, 0] + 0.3 * x[:, 2]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x.astype(float), y


#: The fixed frame predictions are compared on: ordinary rows and rows far outside the
#: training range on both sides (isotonic calibration holds its end values there).
FRAME = np.vstack([_data(400, 7)[0], [[0.0, 0.0, 0.0], [40.0, 9.0, 300.0], [-2.0, -9.0, -5.0]]])


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_a_saved_model_loads_and_predicts_the_same(
    tmp_path: Path, kind: str, calibration: str
) -> None:
    x, y = _data(4_000, 0)
    xc, yc = _data(2_000, 1)
    model = PropensityModel(kind, NAMES, calibration=calibration).fit(x, y, xc, yc)
    model.save(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == (
        ["booster.txt", "propensity.json"] if kind == "lightgbm" else ["propensity.json"]
    )
    again = PropensityModel.load(tmp_path)
    assert (again.kind, again.calibration, again.feature_names) == (kind, calibration, NAMES)
    np.testing.assert_allclose(again.predict(FRAME), model.predict(FRAME), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        again.contributions(FRAME), model.contributions(FRAME), rtol=0, atol=1e-12
    )
    assert again.importance() == pytest.approx(model.importance(), abs=1e-12)


def test_a_damaged_model_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    x, y = _data(2_000, 0)
    PropensityModel("logistic", NAMES, calibration="sigmoid").fit(x, y, x, y).save(tmp_path)
    spec = json.loads((tmp_path / "propensity.json").read_text())
    spec["linear"]["coef"] = spec["linear"]["coef"][:2]
    (tmp_path / "propensity.json").write_text(json.dumps(spec))
    with pytest.raises(ValidationFailedError, match=r"propensity\.json: linear"):
        PropensityModel.load(tmp_path)
    with pytest.raises(ValidationFailedError, match="no propensity model"):
        PropensityModel.load(tmp_path / "elsewhere")


def _old_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """``tastemaker.models.propensity`` as it was: its class and log1p step, by name."""
    old = types.ModuleType("tastemaker.models.propensity")

    class OldModel:
        pass

    def _log1p(a: np.ndarray) -> np.ndarray:
        return np.log1p(np.clip(a, 0.0, None))

    for name, obj in (("PropensityModel", OldModel), ("_log1p", _log1p)):
        obj.__module__, obj.__qualname__ = old.__name__, name
        setattr(old, name, obj)
    monkeypatch.setitem(sys.modules, old.__name__, old)
    return old


def _write_old_pickle(folder: Path, kind: str, calibration: str) -> np.ndarray:
    """Fit and save as the pickling code did; the probabilities that object gave on FRAME."""
    x, y = _data(4_000, 0)
    xc, yc = _data(2_000, 1)
    old = sys.modules["tastemaker.models.propensity"]
    est: Any
    if kind == "lightgbm":
        est = lgb.LGBMClassifier(n_estimators=600, learning_rate=0.3, num_leaves=7, verbose=-1)
        stop = [lgb.early_stopping(30, verbose=False)]
        est.fit(x, y, eval_X=(xc,), eval_y=(yc,), callbacks=stop)
    else:
        est = make_pipeline(
            FunctionTransformer(old._log1p), StandardScaler(), LogisticRegression(max_iter=2000)
        ).fit(x, y)
    cal = None
    if calibration != "none":
        cal = CalibratedClassifierCV(FrozenEstimator(est), method=calibration).fit(xc, yc)
    model = old.PropensityModel()
    model.__dict__.update(
        kind=kind, feature_names=NAMES, params={}, calibration=calibration, seed=0,
        estimator=est, calibrator=cal,
        best_iteration=getattr(est, "best_iteration_", None),
    )  # fmt: skip
    with open(folder / "propensity.pkl", "wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return np.asarray((cal or est).predict_proba(FRAME)[:, 1])


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_a_pickled_model_of_an_older_version_loads_with_a_warning_to_retrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, calibration: str
) -> None:
    with monkeypatch.context() as patch:
        _old_module(patch)
        old = _write_old_pickle(tmp_path, kind, calibration)
    expected = np.clip(old, PROBABILITY_EPS, 1 - PROBABILITY_EPS)  # answers are never 0 or 1
    assert "tastemaker.models.propensity" not in sys.modules
    with pytest.warns(DeprecationWarning, match="retrain"):
        model = PropensityModel.load(tmp_path)
    np.testing.assert_allclose(model.predict(FRAME), expected, rtol=0, atol=1e-12)
    model.save(tmp_path / "again")
    assert not list((tmp_path / "again").glob("*.pkl"))
    again = PropensityModel.load(tmp_path / "again")
    np.testing.assert_allclose(again.predict(FRAME), expected, rtol=0, atol=1e-12)
