"""Drift statistics on planted shifts: they flag a shift and stay quiet without one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from tastemaker.config import MonitoringConfig
from tastemaker.monitoring.drift import compare, split_cold
from tastemaker.monitoring.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from tastemaker.monitoring.reference import (
    CategoricalReference,
    NumericReference,
    Reference,
    summarize,
)
from tastemaker.monitoring.stats import categorical_drift, numeric_drift, psi

CFG = MonitoringConfig()


def _normal(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0 + shift, 2.0, n)


def test_psi_equals_the_formula_on_a_hand_worked_example() -> None:
    r, c = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    expected = (0.3 - 0.5) * np.log(0.3 / 0.5) + (0.4 - 0.2) * np.log(0.4 / 0.2)
    assert psi(r, c) == pytest.approx(expected, rel=1e-12)
    assert psi(r * 10, c * 7) == pytest.approx(expected, rel=1e-12)  # counts or shares
    assert psi(r, r) == 0.0


def test_a_shifted_numeric_feature_drifts_and_an_unchanged_one_does_not() -> None:
    ref = NumericReference.of(_normal(1, 5000))
    assert len(ref.shares) == 10 and sum(ref.shares) == pytest.approx(1.0)
    assert ref.mean == pytest.approx(10.0, abs=0.1) and ref.std == pytest.approx(2.0, abs=0.1)
    shifted = numeric_drift("price", ref, _normal(2, 2000, shift=1.5), CFG)
    assert shifted.psi > CFG.psi_threshold and shifted.p_value < CFG.ks_p_threshold
    assert shifted.drifted and shifted.current_mean == pytest.approx(11.5, abs=0.2)
    same = numeric_drift("price", ref, _normal(3, 2000), CFG)
    assert same.psi < CFG.psi_threshold and same.p_value > CFG.ks_p_threshold
    assert not same.drifted


def test_the_ks_figures_are_scipys_on_the_reference_sample() -> None:
    ref = NumericReference.of(_normal(1, 5000), sample=800)
    current = _normal(4, 500, shift=0.3)
    row = numeric_drift("x", ref, current, CFG)
    ks = stats.ks_2samp(np.asarray(ref.sample), current)
    assert len(ref.sample) == 800
    assert (row.statistic, row.p_value) == (pytest.approx(ks.statistic), pytest.approx(ks.pvalue))


def test_a_changed_category_mix_fails_chi_square_and_the_same_mix_passes() -> None:
    rng = np.random.default_rng(5)
    names = ["suv", "sedan", "hatchback", "van"]
    base = pl.Series("category", rng.choice(names, 5000, p=[0.4, 0.3, 0.2, 0.1]))
    ref = CategoricalReference.of(base)
    assert ref.shares["suv"] == pytest.approx(0.4, abs=0.02) and ref.count == 5000
    changed = pl.Series("category", rng.choice(names, 2000, p=[0.1, 0.2, 0.3, 0.4]))
    row = categorical_drift("category", ref, changed, CFG)
    assert row.test == "chi2" and row.p_value < CFG.chi2_p_threshold
    assert row.psi > CFG.psi_threshold and row.drifted
    same = pl.Series("category", rng.choice(names, 2000, p=[0.4, 0.3, 0.2, 0.1]))
    quiet = categorical_drift("category", ref, same, CFG)
    assert quiet.p_value > CFG.chi2_p_threshold and not quiet.drifted


def test_the_chi_square_is_scipys_two_sample_test_with_rare_categories_pooled() -> None:
    ref = CategoricalReference({"a": 0.5, "b": 0.496, "c": 0.004}, 1000)
    served = ["a"] * 300 + ["b"] * 600 + ["new"] * 3 + ["c"] * 1
    row = categorical_drift("c", ref, pl.Series("c", served), CFG)
    # "c" (4 and 1) and "new" (0 and 3) expect fewer than 5 on a side: pooled as "(other)"
    table = np.array([[500, 496, 4], [300, 600, 4]])
    chi = stats.chi2_contingency(table, correction=False)
    assert row.statistic == pytest.approx(chi.statistic) and row.p_value == pytest.approx(
        chi.pvalue
    )
    assert row.psi == pytest.approx(psi(table[0], table[1]))


def test_many_rare_categories_of_an_unchanged_mix_do_not_drift() -> None:
    rng = np.random.default_rng(8)
    brands = [f"b{i}" for i in range(120)]
    shares = rng.dirichlet(np.full(120, 0.3))  # a long tail of rare brands
    ref = CategoricalReference.of(pl.Series("brand", rng.choice(brands, 2000, p=shares)))
    same = pl.Series("brand", rng.choice(brands, 3000, p=shares))
    row = categorical_drift("brand", ref, same, CFG)
    assert not row.drifted and row.psi < CFG.psi_threshold / 2


def test_a_reference_survives_its_json_and_compare_covers_every_feature(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    frame = pl.DataFrame({
        "score": rng.uniform(0, 1, 1000), "popularity": rng.uniform(0, 1, 1000),
        "price": rng.lognormal(8, 1, 1000), "history": rng.poisson(6, 1000).astype(float),
        "category": rng.choice(["a", "b"], 1000), "brand": rng.choice(["x", "y", "z"], 1000),
    })  # fmt: skip
    ref = summarize(frame, meta={"version": "v0001"})
    ref.save(tmp_path)
    back = Reference.load(tmp_path)
    assert back == ref
    rows = compare(back, frame, CFG)
    assert [r.feature for r in rows] == [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]  # the frame
    assert not any(r.drifted for r in rows)


def test_no_traffic_gives_no_verdict() -> None:
    ref = NumericReference.of(_normal(1, 100))
    row = numeric_drift("x", ref, np.array([]), CFG)
    assert row.n == 0 and not row.drifted and row.p_value == 1.0


def test_fallback_lists_of_visitors_without_history_are_counted_apart_not_drift() -> None:
    rng = np.random.default_rng(9)

    def lists(n: int, history: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({
            "score": rng.uniform(0, 1, n), "popularity": rng.uniform(0, 1, n),
            "price": rng.lognormal(8, 1, n), "history": history,
            "category": rng.choice(["a", "b"], n), "brand": rng.choice(["x", "y", "z"], n),
        })  # fmt: skip

    ref = summarize(lists(2000, rng.poisson(6, 2000) + 1.0), meta={"version": "v0001"})
    known = lists(2100, rng.poisson(6, 2100) + 1.0)
    served = pl.concat([known, lists(900, np.zeros(900))])  # 30% new visitors
    # compared whole, the empty history bin of the reference reads as drift
    assert any(r.drifted for r in compare(ref, served, CFG) if r.feature == "history")
    kept, cold = split_cold(served)
    assert cold == 900 and kept.height == 2100
    assert not any(r.drifted for r in compare(ref, kept, CFG))
