"""Probability metrics against sklearn and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from tastemaker.evaluation.classification import (
    auc_interval,
    classification_metrics,
    expected_calibration_error,
    lift_at,
    reliability,
)


def test_perfect_ranking_has_auc_one_and_lift_over_the_base_rate() -> None:
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    p = np.linspace(0.01, 0.9, 10)
    m = classification_metrics(y, p)
    assert m["auc"] == 1.0 and m["pr_auc"] == pytest.approx(1.0)
    assert m["base_rate"] == 0.2 and m["positives"] == 2
    assert lift_at(y, p, 0.1) == pytest.approx(1.0 / 0.2)


def test_calibrated_predictions_have_small_ece_and_shifted_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, 200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.003
    assert expected_calibration_error(y, p + 0.05) == pytest.approx(0.05, abs=0.003)
    table = reliability(y, p)
    assert len(table) == 10 and sum(r["n"] for r in table) == p.size
    assert all(abs(r["predicted"] - r["observed"]) < 0.01 for r in table)


def test_auc_interval_resamples_users_and_contains_the_point() -> None:
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(300), 5)
    y = rng.integers(0, 2, users.size)
    p = np.clip(y * 0.3 + rng.uniform(size=users.size), 0, 1)
    point = classification_metrics(y, p)["auc"]
    low, high = auc_interval(y, p, users, n_resamples=100)
    assert low < point < high and high - low < 0.1


def test_one_class_gives_counts_without_auc() -> None:
    m = classification_metrics(np.zeros(5), np.full(5, 0.1))
    assert m["positives"] == 0 and "auc" not in m


def test_tied_predictions_give_the_same_metrics_in_any_row_order() -> None:
    # a constant predictor (the base rate) has lift 1 and one calibration bin, however the
    # rows happen to be ordered (they are ordered by pseudonymous user id in training)
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=3000) < 0.01).astype(int)
    p = np.full(y.size, 0.02)
    shuffled = rng.permutation(y.size)
    assert lift_at(y, p) == pytest.approx(1.0)
    assert lift_at(y[shuffled], p) == pytest.approx(1.0)
    assert expected_calibration_error(y, p) == pytest.approx(abs(0.02 - y.mean()))
    assert len(reliability(y[shuffled], p)) == 1
    steps = np.repeat([0.1, 0.2, 0.3], 1000)
    assert [r["n"] for r in reliability(y, steps)] == [1000, 1000, 1000]
    assert lift_at(y, steps, 0.1) == pytest.approx(y[2000:].mean() / y.mean())
