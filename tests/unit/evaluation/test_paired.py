"""Paired comparisons: best only when significant, lower-is-better Gini, losers to popularity."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from rich.console import Console
from scipy import stats
from tests.unit.evaluation.test_runner import run

from tastemaker.evaluation.metrics import Estimate
from tastemaker.evaluation.paired import (
    compare_global,
    compare_per_user,
    loses_to_popularity,
    paired_test,
)
from tastemaker.evaluation.table import render_table

RNG = np.random.default_rng(7)
BASE = RNG.uniform(0.0, 0.5, 60)
STRONG = BASE + RNG.uniform(0.02, 0.1, 60)  # better for every user
NOISE = RNG.normal(0.0, 0.2, 60)
NOISY = BASE + NOISE - NOISE.mean() + 0.005  # higher mean, but not significantly


def test_paired_test_matches_scipy_wilcoxon_on_a_fixed_example() -> None:
    diff, low, high, p = paired_test(NOISY, BASE, n_resamples=2000, seed=1)
    d = NOISY - BASE
    assert diff == float(d.mean())
    assert p == float(stats.wilcoxon(d).pvalue)
    assert low < diff < high


def test_best_only_when_significant_otherwise_tied() -> None:
    clear = compare_per_user({"a": BASE, "b": STRONG}, "ndcg")
    assert clear["b"].status == "best" and clear["a"].status == "below"
    assert clear["a"].p_value < 0.05 and clear["a"].high < 0
    tied = compare_per_user({"a": BASE, "c": NOISY}, "ndcg")
    assert NOISY.mean() > BASE.mean()
    assert tied["c"].status == "tied" and tied["a"].status == "tied"
    assert tied["a"].p_value >= 0.05


def test_gini_ranks_lower_as_better() -> None:
    out = compare_global(
        {"popularity": Estimate(0.97, 0.96, 0.98), "ease": Estimate(0.6, 0.58, 0.62)}, "gini"
    )
    assert out["ease"].status == "best" and out["popularity"].status == "below"


def test_loses_to_popularity_needs_a_significant_gap() -> None:
    vectors = {"popularity": STRONG, "bpr": BASE, "noisy": NOISY + 0.07}
    assert loses_to_popularity(vectors) == ["bpr"]


def test_evaluation_marks_comparisons_in_table_json_and_report(tmp_path: Path) -> None:
    from tastemaker.evaluation.report import write_report

    result = run()
    pop_gini = result.models[0].value("gini", 3)  # type: ignore[attr-defined]
    assert pop_gini > result.models[1].value("gini", 3)  # type: ignore[attr-defined]
    assert result.status("gini", 3, "popularity") != "best"  # type: ignore[attr-defined]
    data = result.to_dict()  # type: ignore[attr-defined]
    assert set(data["comparisons"]["ndcg"]["3"]) == {"popularity", "ease"}
    assert "p_value" in data["comparisons"]["ndcg"]["3"]["popularity"]
    assert "loses_to_popularity" in data
    html = write_report(result, tmp_path / "r.html").read_text()  # type: ignore[arg-type]
    gini_cells = re.findall(r'<td class="(\w*)">' + f"{pop_gini:.4f}", html)
    assert gini_cells and "best" not in gini_cells
    console = Console(record=True, width=200)
    console.print(render_table(result, ("ndcg", "gini")))  # type: ignore[arg-type]
    assert "ease" in console.export_text()
