"""The propensity classifier: learns, calibrates, explains, saves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tastemaker.errors import ValidationFailedError
from tastemaker.propensity.model import PropensityModel

NAMES = ["carts", "noise", "views"]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.poisson(0.3, n), rng.normal(size=n), rng.poisson(2.0, n)])
    logit = -4.0 + 2.0 * x[:, 0] + 0.3 * x[:, 2]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x.astype(float), y


@pytest.mark.parametrize("kind", ["lightgbm", "logistic"])
def test_learns_the_signal_and_is_calibrated(kind: str) -> None:
    x, y = _data(20_000, 0)
    xc, yc = _data(8_000, 1)
    xt, yt = _data(8_000, 2)
    model = PropensityModel(kind, NAMES, seed=0).fit(x, y, xc, yc)
    p = model.predict(xt)
    assert roc_auc_score(yt, p) > 0.8
    assert abs(p.mean() - yt.mean()) < 0.01
    importance = model.importance()
    assert max(importance, key=importance.__getitem__) == "carts"
    assert importance["noise"] < importance["carts"]


def test_contributions_explain_each_row_by_its_strongest_feature() -> None:
    x, y = _data(20_000, 0)
    xc, yc = _data(8_000, 1)
    model = PropensityModel("logistic", NAMES, calibration="none").fit(x, y, xc, yc)
    row = np.array([[3.0, 0.0, 2.0]])
    contrib = model.contributions(row)[0]
    assert contrib.shape == (3,) and np.argmax(np.abs(contrib)) == 0 and contrib[0] > 0
    trees = PropensityModel("lightgbm", NAMES, calibration="none").fit(x, y, xc, yc)
    shap = trees.booster.predict(row, pred_contrib=True)[0]
    assert shap.sum() == pytest.approx(float(trees.log_odds(row)[0]), rel=1e-6)
    assert trees.contributions(row)[0].tolist() == pytest.approx(shap[:3].tolist())


def test_save_and_load_give_the_same_probabilities(tmp_path: Path) -> None:
    x, y = _data(5_000, 0)
    xc, yc = _data(3_000, 1)
    model = PropensityModel("lightgbm", NAMES).fit(x, y, xc, yc)
    model.save(tmp_path)
    again = PropensityModel.load(tmp_path)
    assert np.array_equal(again.predict(xc), model.predict(xc))


def test_a_slice_without_buyers_is_refused_with_a_reason() -> None:
    x, y = _data(1_000, 0)
    with pytest.raises(ValidationFailedError, match="calibration slice has only one class"):
        PropensityModel("logistic", NAMES).fit(x, y, x, np.zeros_like(y))
    with pytest.raises(ValidationFailedError, match="unknown"):
        PropensityModel("forest", NAMES)
